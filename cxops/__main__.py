from cxops.cli.main import main

main()
