"""A sweep's charts: every run's test loss in panels, and held-out accuracy per point."""

from pathlib import Path

from caffesiam.charts.figure import figure, plain


def plot_loss_panels(panels: dict, out_path, title: str) -> Path:
    """Test loss against iteration, one panel per
    {panel title: [(line label, [(iteration, loss)])]}, on a log scale (with plain numbers) when
    the losses are positive."""
    from matplotlib import colormaps
    from matplotlib.ticker import FormatStrFormatter

    widest = max((len(lines) for lines in panels.values()), default=1)
    colors = colormaps["tab20" if widest > 10 else "tab10"]
    n = max(len(panels), 1)
    with figure(out_path, 100, (7.5 * n, 6), nrows=1, ncols=n, squeeze=False) as (fig, axes):
        for ax, (name, lines) in zip(axes[0], panels.items()):
            for k, (label, curve) in enumerate(lines):
                if curve:
                    color = colors(k % colors.N)
                    ax.plot(*zip(*curve), "o-", ms=3, lw=1.2, color=color, label=plain(label))
            ax.set_title(plain(name), fontsize=11)
            ax.set_xlabel("iteration")
            ax.set_ylabel("test loss")
            if any(loss > 0 for _, curve in lines for _, loss in curve):
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
                ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="upper right")
        fig.suptitle(plain(title), fontsize=12)
    return Path(out_path)


def plot_accuracy_bars(bars, out_path, title: str) -> Path:
    """Horizontal bars of (label, accuracy in %), in the order given (the last at the top)."""
    longest = max((len(label) for label, _ in bars), default=0)
    # the labels (8 pt, about 0.07 in a character) and 6 in of bars
    width = max(10.0, 6.0 + 0.07 * longest)
    with figure(out_path, 100, (width, 1.2 + 0.3 * max(len(bars), 1))) as (_, ax):
        if bars:
            labels, accuracies = zip(*bars)
            ax.barh(range(len(bars)), accuracies, color="tab:blue")
            ax.set_yticks(range(len(bars)), [plain(label) for label in labels], fontsize=8)
            for y, value in enumerate(accuracies):
                ax.text(value, y, f" {value:.2f}%", va="center", fontsize=8)
            low = min(accuracies)
            ax.set_xlim(max(0.0, low - 0.25 * (100 - low) - 1), 100)
        else:
            ax.text(
                0.5,
                0.5,
                "no point has finished yet",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        ax.set_xlabel(
            "held-out pair accuracy (%)\n(the threshold chosen on the other half of the test pairs)"
        )
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(plain(title), fontsize=11)
    return Path(out_path)
