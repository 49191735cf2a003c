"""Thin click commands: parse flags, call the library, print."""

from caffesiam.commands.doctor import doctor
from caffesiam.commands.gen_net import gen_net
from caffesiam.commands.gen_solver import gen_solver

COMMANDS = [doctor, gen_net, gen_solver]
