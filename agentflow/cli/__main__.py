from agentflow.cli.entry import main

main()
