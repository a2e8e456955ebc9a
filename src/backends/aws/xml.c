/* The small libxml2 helpers the S3 and Route 53 backends share: parse a response body (no network,
 * no messages on stderr), find a child element, copy its text. */
#include "aws.h"

#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

void stkdr__aws_xml_init(void)
{
	/* once, before any thread parses */
	pthread_once(&xml_once, xml_init);
}

xmlDocPtr stkdr__aws_xml_parse(const stkdr_buf *b, const char *what)
{
	if (!b->ptr || b->size == 0 || b->size > INT32_MAX)
		return NULL;
	return xmlReadMemory(b->ptr, (int)b->size, what, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

xmlNodePtr stkdr__aws_xml_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

int stkdr__aws_xml_text(char *out, size_t cap, xmlNodePtr n, const char *name)
{
	xmlNodePtr c = stkdr__aws_xml_child(n, name);
	out[0] = '\0';
	if (!c)
		return 0;
	xmlChar *t = xmlNodeGetContent(c);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
	xmlFree(t);
	return 1;
}
