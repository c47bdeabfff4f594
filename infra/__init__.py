"""The CDK app: see infra/app.py and docs/deploy.md."""
