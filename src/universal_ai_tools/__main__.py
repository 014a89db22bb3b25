from universal_ai_tools.cli import main

main()
