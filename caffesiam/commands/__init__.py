"""Thin click commands: parse flags, call the library, print."""

from caffesiam.commands.build_db import build_db
from caffesiam.commands.doctor import doctor
from caffesiam.commands.draw import draw
from caffesiam.commands.embed import embed
from caffesiam.commands.evaluate import evaluate
from caffesiam.commands.gen_net import gen_net
from caffesiam.commands.gen_solver import gen_solver
from caffesiam.commands.plot_log import plot_log
from caffesiam.commands.train import train
from caffesiam.commands.inspect_db import inspect_db

COMMANDS = [doctor, gen_net, gen_solver, train, plot_log, build_db, inspect_db, draw, evaluate, embed]
