"""Reads the deployed stack's outputs back and prints them as JSON for tests and the demo.

Adds what only the local stack needs: the endpoint, and the API Gateway URLs in the form
ministack serves (the https://...amazonaws.com outputs point at real AWS).
"""
import json
import os

import boto3

endpoint = os.environ["ENDPOINT"]
stack = os.environ["STACK_NAME"]
cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
desc = cfn.describe_stacks(StackName=stack)["Stacks"][0]
outputs = {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}
api = f"{endpoint}/_aws/execute-api/{outputs['ApiId']}/Prod"
print(json.dumps({
    "stack_name": stack,
    "status": desc["StackStatus"],
    "endpoint": endpoint,
    "region": "us-east-1",
    "outputs": outputs,
    "zoom_webhook_url": f"{api}/zoom/webhook",
    # Local, generated secret (never a real credential); tests sign webhooks with it.
    "zoom_webhook_secret": os.environ["ZOOM_SECRET"],
    "zoom_sandbox_port": int(os.environ["SANDBOX_PORT"]),
    "symbl_sandbox_port": int(os.environ["SYMBL_SANDBOX_PORT"]),
    "llm_sandbox_port": int(os.environ["LLM_SANDBOX_PORT"]),
    "mail_dir": os.environ["MAIL_DIR"],
    "zoom_sandbox_ca_dir": os.environ["SANDBOX_CA_DIR"],
}, indent=2))
