from cxops.cli.app import main

main()
