from dsreg.cli.commands import main

main()
