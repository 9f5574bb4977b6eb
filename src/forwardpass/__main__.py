from forwardpass.cli import main

main()
