"""`python -m caffesiam`: the same entry point as the caffesiam command."""

from caffesiam.cli import main

main()
