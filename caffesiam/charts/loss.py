"""One training run's loss curve: train loss, learning rate and test outputs against iteration."""

from pathlib import Path

import numpy as np

from caffesiam.charts.figure import figure


def plot_loss_curve(metrics, out_path, title: str = "") -> Path:
    """PNG of train loss (and lr) and test outputs against iteration, from train.log.Metrics.
    Non-finite values (a diverging run) are left out, and a red line marks where they start."""
    train = [(p.iteration, p.loss) for p in metrics.train if np.isfinite(p.loss)]
    with figure(out_path, 100, (8, 4.5)) as (_, ax):
        if train:
            ax.plot(*zip(*train), color="tab:blue", lw=1.2, label="train loss")
        names = sorted({name for point in metrics.test for name in point.outputs})
        for name, color in zip(names, ("tab:orange", "tab:green", "tab:red", "tab:purple")):
            points = [
                (p.iteration, p.outputs[name])
                for p in metrics.test
                if np.isfinite(p.outputs.get(name, np.nan))
            ]
            if points:
                ax.plot(*zip(*points), "o-", color=color, ms=4, lw=1.5, label=f"test {name}")
        if metrics.diverged:
            ax.axvline(
                metrics.diverged.iteration,
                color="tab:red",
                lw=1.5,
                label=f"diverged (loss {metrics.diverged.loss})",
            )
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        if train and min(loss for _, loss in train) > 0:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(
            f"{title}\n{_run_summary(metrics)}" if title else _run_summary(metrics), fontsize=10
        )
        _add_lr_axis_and_legend(ax, metrics)
    return Path(out_path)


def _run_summary(metrics) -> str:
    last = metrics.train[-1] if metrics.train else None
    summary = f"iteration {metrics.iteration}" + (
        f", last train loss {last.loss:.4g}" if last else ""
    )
    if metrics.diverged:
        summary += f", diverged at iteration {metrics.diverged.iteration}"
    if metrics.test and metrics.test[-1].outputs:
        summary += ", last test " + ", ".join(
            f"{k} {v:.4g}" for k, v in metrics.test[-1].outputs.items()
        )
    return summary


def _add_lr_axis_and_legend(ax, metrics):
    lrs = [(p.iteration, p.lr) for p in metrics.train if p.lr is not None and np.isfinite(p.lr)]
    if lrs:
        lr_ax = ax.twinx()
        lr_ax.plot(*zip(*lrs), color="gray", ls="--", lw=0.8, label="learning rate")
        lr_ax.set_ylabel("learning rate", color="gray")
        lr_ax.tick_params(axis="y", colors="gray")
        handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=8)
    elif ax.lines:
        ax.legend(loc="upper right", fontsize=8)
