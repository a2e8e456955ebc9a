// Converts AWS's SigV4 test suite, as shipped by `npm pack @aws-sdk/signature-v4@3.257.0`
// (package/dist-cjs/suite.fixture.js), into tests/resources/sigv4/suite.json.
// Usage: node convert_sigv4_suite.js package/dist-cjs/suite.fixture.js > suite.json
const path = require("path");
const f = require(path.resolve(process.argv[2]));
const out = {
	source: "@aws-sdk/signature-v4@3.257.0 dist-cjs/suite.fixture.js (the AWS SigV4 test suite)",
	region: f.region, service: f.service, credentials: f.credentials, signingDate: f.signingDate.toISOString(),
	requests: f.requests.map((r) => ({
		name: r.name, method: r.request.method, hostname: r.request.hostname, path: r.request.path,
		query: r.request.query, headers: r.request.headers,
		body: r.request.body === undefined ? null : String(r.request.body), authorization: r.authorization,
	})),
};
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
