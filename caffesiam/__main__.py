from caffesiam.cli import main

main()
