from agentflow.cli.main import app

app()
