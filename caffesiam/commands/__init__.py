"""Thin click commands: parse flags, call the library, print."""

from caffesiam.commands.doctor import doctor

COMMANDS = [doctor]
