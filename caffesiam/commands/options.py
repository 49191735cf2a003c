"""Options that several commands share are defined once, as groups applied by one decorator."""


def option_group(*options):
    """One decorator applying click `options`; --help lists them in the order given."""

    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f

    return apply
