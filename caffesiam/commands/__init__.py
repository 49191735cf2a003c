"""Thin click commands: parse flags, call the library, print.

A command's module is imported only when that command runs (or help lists it), so
`caffesiam build-db` does not pay for the plotting, drawing and net-building imports.
"""

# command name -> "module:function" in this package; add new commands here
COMMANDS = {
    "build-db": "build_db:build_db",
    "compare": "compare:compare",
    "doctor": "doctor:doctor",
    "draw": "draw:draw",
    "embed": "embed:embed",
    "evaluate": "evaluate:evaluate",
    "export": "export:export",
    "gen-net": "gen_net:gen_net",
    "gen-solver": "gen_solver:gen_solver",
    "inspect-db": "inspect_db:inspect_db",
    "mine": "mine:mine",
    "plot-log": "plot_log:plot_log",
    "sweep": "sweep:sweep",
    "train": "train:train",
}
