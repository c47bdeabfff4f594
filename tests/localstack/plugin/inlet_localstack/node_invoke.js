// One invocation of a Node Lambda handler (run by lambda_bootstrap.py): the event on stdin, the
// outcome written to INLET_RESULT_FILE.
//
// CDK's Node custom resource handlers send their response with https.request and the ResponseURL's
// host and path only, dropping its port: on AWS that is an https URL on port 443. Here the
// ResponseURL is LocalStack's plain-HTTP gateway, so a request to its host without a port is sent
// there over HTTP. Nothing else is redirected.
"use strict";
const fs = require("fs");
const http = require("http");
const https = require("https");
const path = require("path");

const gateway = new URL(process.env.AWS_ENDPOINT_URL || "http://127.0.0.1:4566");
const originalRequest = https.request;
https.request = function (options, callback) {
  if (options && typeof options === "object" && !(options instanceof URL) &&
      options.hostname === gateway.hostname && !options.port &&
      String(options.path || "").startsWith("/_inlet/cfn-response/")) {
    return http.request({ ...options, port: gateway.port }, callback);
  }
  return originalRequest.apply(this, arguments);
};

function writeOutcome(outcome) {
  fs.writeFileSync(process.env.INLET_RESULT_FILE, JSON.stringify(outcome));
}

async function main() {
  const event = JSON.parse(fs.readFileSync(0, "utf8") || "{}");
  const [file, name] = process.env._HANDLER.split(/\.(?=[^.]+$)/);
  const timeoutMs = Number(process.env.AWS_LAMBDA_FUNCTION_TIMEOUT || "3") * 1000;
  const deadline = Date.now() + timeoutMs;
  const context = {
    awsRequestId: process.env.INLET_REQUEST_ID,
    invokedFunctionArn: process.env.INLET_FUNCTION_ARN,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const handler = require(path.join(process.env.LAMBDA_TASK_ROOT, file))[name];
    const result = await handler(event, context);
    writeOutcome({ ok: true, result: result === undefined ? null : result });
  } catch (err) {
    console.error(err);
    writeOutcome({ ok: false, error: { errorType: err.name, errorMessage: err.message } });
  }
}

main();
