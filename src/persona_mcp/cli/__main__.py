from persona_mcp.cli import main

main()
