"""The ``hubpg`` command: thin wrappers that parse options, call :mod:`hubpg.api`,
print the result (:mod:`hubpg.results`: ``--json`` prints its ``to_dict()``, else its
notes go to stderr and its text to stdout), and turn hubpg's errors into one-line
messages and exit codes (``docs/cli.md``). From hubpg it imports only ``api``,
``errors``, ``options``, ``results`` and ``localhub``.

Exit status: 0 success; 1 the work failed; 2 bad usage or input; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hubpg import __version__
from hubpg.errors import HubpgError, one_line
from hubpg.localhub import defaults as hub_defaults
from hubpg.options import train_options

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
#: The option types several commands share.
PATH = click.Path(path_type=Path)
POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)


# --------------------------------------------------------------------------- output helpers


def say(message: str, quiet: bool = False) -> None:
    """Chatter for people: stderr, silenced by --quiet."""
    if not quiet:
        click.echo(message, err=True)


def emit_json(value: Any) -> None:
    """Exactly one JSON value on stdout (:func:`hubpg.results.to_json`)."""
    from hubpg.results import to_json

    click.echo(to_json(value))


def show(result: Any, *, quiet: bool, as_json: bool) -> None:
    """Print an operation's result: its warnings on stderr, then with ``--json`` its
    ``to_dict()``, else its notes on stderr and its text on stdout (``--quiet``
    silences warnings and notes)."""
    for line in getattr(result, "warnings", list)():
        say(line, quiet)
    if as_json:
        emit_json(result.to_dict())
        return
    for line in result.notes():
        say(line, quiet)
    text = str(result)
    if text:
        click.echo(text)


def sentence(message: str) -> str:
    """The text of ``error: WHAT; HOW TO FIX.``: the whole message on one line
    (:func:`hubpg.errors.one_line`, uncut), ending with a full stop."""
    text = one_line(str(message), limit=None, whole=True)
    return text if text.endswith((".", "!", "?")) else text + "."


def _debug_enabled() -> bool:
    return os.environ.get("HUBPG_DEBUG", "") not in ("", "0") or "--debug" in sys.argv


#: ``--debug`` on every command: show tracebacks (read from argv by :func:`main`).
common = click.option(
    "--debug", is_flag=True, expose_value=False, help="Show tracebacks on errors."
)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON value on stdout."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars or chatter.")


def eval_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--episodes``, ``--seed``, ``--deterministic``, ``--max-t`` for evaluating commands."""
    func = click.option("--max-t", type=POSITIVE_INT, help="Cap on one episode's steps.")(func)
    func = click.option(
        "--deterministic",
        is_flag=True,
        help="Take the most probable action instead of sampling (sampling is the default).",
    )(func)
    func = click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of episode 0 (episode k: S+k)."
    )(func)
    return click.option(
        "--episodes", type=POSITIVE_INT, default=100, show_default=True, help="Evaluation episodes."
    )(func)


# --------------------------------------------------------------------------- the group


class Group(click.Group):
    """A command group whose ``--help`` lists each command's whole first sentence,
    wrapped, never cut short with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubpg")
@common
def cli() -> None:
    """Train REINFORCE agents, package them, share them on the Hugging Face Hub,
    and verify shared scores."""


# --------------------------------------------------------------------------- train


@cli.command()
@click.argument("env_id")
@train_options
@click.option(
    "--episodes",
    "episodes_alias",
    type=int,
    hidden=True,
    help="Deprecated alias of --total-episodes.",
)
@click.option(
    "--config",
    "config_file",
    type=PATH,
    help="JSON or YAML file of hyperparameters (options given here win).",
)
@click.option("--out", type=PATH, help="Run folder.  [default: runs/<env>-reinforce-s<seed>]")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@quiet_option
@json_option
@common
def train(
    env_id: str,
    config_file: Path | None,
    out: Path | None,
    overwrite: bool,
    resume: bool,
    quiet: bool,
    as_json: bool,
    episodes_alias: int | None,
    **options: Any,
) -> None:
    """Train a REINFORCE policy on ENV_ID and write a run folder.

    Every option is a field of hubpg.TrainConfig (the same keywords as
    hubpg.train() in Python); the env's tuned defaults apply, then --config,
    then the options given here."""
    from hubpg.api import train as run_training
    from hubpg.errors import InterruptedByUser, TrainingInterrupted

    if overwrite and resume:
        raise click.UsageError("--overwrite and --resume exclude each other")
    if episodes_alias is not None:
        say("note: --episodes is deprecated for training; use --total-episodes", quiet)
        if options.get("total_episodes") is None:
            options["total_episodes"] = episodes_alias
    try:
        result = run_training(
            env_id,
            config=config_file,
            out=out,
            overwrite=overwrite,
            resume=resume,
            progress=not quiet,
            **options,
        )
    except TrainingInterrupted as exc:
        raise InterruptedByUser(str(exc)) from None
    show(result, quiet=quiet, as_json=as_json)


# --------------------------------------------------------------------------- evaluate


@cli.command()
@click.argument("run_dir", type=PATH)
@eval_options
@click.option("--save-json", type=PATH, help="Also write the result as JSON to this file.")
@json_option
@quiet_option
@common
def evaluate(
    run_dir: Path, save_json: Path | None, as_json: bool, quiet: bool, **options: Any
) -> None:
    """Evaluate the policy in RUN_DIR (a run or package folder); prints MEAN +/- STD."""
    from hubpg.api import evaluate as run_evaluation

    result = run_evaluation(run_dir, **options)
    if save_json is not None:
        result.save_json(save_json)
    show(result, quiet=quiet, as_json=as_json)


# --------------------------------------------------------------------------- package


@cli.command()
@click.argument("run_dir", type=PATH)
@click.option("--out", type=PATH, help="The package folder.  [default: RUN_DIR/hub]")
@eval_options
@click.option("--video-fps", type=POSITIVE_FLOAT, help="Replay frame rate. [default: env's]")
@click.option("--video-max-t", type=POSITIVE_INT, help="Longest replay, in steps.  [default: 3000]")
@click.option("--no-video", is_flag=True, help="Package without a replay video.")
@click.option(
    "--repo-name",
    metavar="NAMESPACE/NAME",
    help="The repo id shown in the card (a bare NAME is refused).",
)
@click.option("--overwrite", is_flag=True, help="Rebuild an existing package folder.")
@json_option
@quiet_option
@common
def package(run_dir: Path, no_video: bool, as_json: bool, quiet: bool, **options: Any) -> None:
    """Build the Hub-ready folder for RUN_DIR: weights, config, results, video, card."""
    from hubpg.api import check_package
    from hubpg.api import package as build_package

    check_package(run_dir, repo_name=options["repo_name"])
    say(
        f"packaging {run_dir}: evaluating {options['episodes']} episodes"
        f"{'' if no_video else ', recording a replay'}",
        quiet,
    )
    result = build_package(run_dir, video=not no_video, progress=not quiet, **options)
    show(result, quiet=quiet, as_json=as_json)


# --------------------------------------------------------------------------- push / load-and-eval


def hub_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--endpoint``, ``--token`` and ``--timeout``, as in huggingface_hub."""
    func = click.option(
        "--timeout",
        type=POSITIVE_FLOAT,
        help="Seconds each Hub request may wait for an answer.  "
        "[default: HF_HUB_DOWNLOAD_TIMEOUT, HF_HUB_ETAG_TIMEOUT or 30]",
    )(func)
    func = click.option("--token", help="Hub token.  [default: HF_TOKEN or the stored login]")(func)
    endpoint = click.option("--endpoint", help="Hub URL.  [default: HF_ENDPOINT or huggingface.co]")
    return endpoint(func)


@cli.command()
@click.argument("run_dir", type=PATH, required=False)
@click.option("--repo", "repo_id", required=True, metavar="NAMESPACE/NAME", help="Target repo.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--commit-message", help="Commit message.")
@click.option("--revision", help="Branch to commit to.  [default: main]")
@click.option(
    "--episodes",
    type=POSITIVE_INT,
    default=100,
    show_default=True,
    help="Evaluation episodes, when the run still has to be packaged.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="First evaluation seed, when the run still has to be packaged.",
)
@click.option(
    "--no-video", is_flag=True, help="Package without a replay video, when the run still has to be."
)
@hub_options
@json_option
@quiet_option
@common
def push(
    run_dir: Path | None, repo_id: str, no_video: bool, as_json: bool, quiet: bool, **options: Any
) -> None:
    """Upload RUN_DIR's package (built if needed) to the Hub in one commit.

    RUN_DIR defaults to the only finished run under runs/ (with several, pass one)."""
    from hubpg.api import RUNS_DIR, check_folder, only_run, validate_repo_id
    from hubpg.api import push as run_push

    validate_repo_id(repo_id)
    if run_dir is None:
        run_dir = only_run()
        say(f"no RUN_DIR given: pushing {run_dir}, the only finished run in {RUNS_DIR}/", quiet)
    else:
        check_folder(run_dir, what="run folder")
    result = run_push(run_dir, repo=repo_id, video=not no_video, progress=not quiet, **options)
    show(result, quiet=quiet, as_json=as_json)


@cli.command("load-and-eval")
@click.option("--repo", "repo_id", required=True, metavar="NAMESPACE/NAME", help="Model repo.")
@click.option("--revision", help="Branch, tag or commit sha.  [default: main]")
@eval_options
@click.option(
    "--video", type=PATH, help="Also record a replay of the downloaded policy to this mp4."
)
@click.option(
    "--legacy",
    is_flag=True,
    help="Read a repo that holds only a course checkpoint (model.pt) with torch's "
    "weights-only loader (no code runs) instead of refusing it.",
)
@click.option(
    "--env-id",
    help="The env the model plays, for a course checkpoint whose files do not name it "
    "(a hubpg repo's config.json must name the same env).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when the measurement does not support the card's claim (or there is none).",
)
@hub_options
@json_option
@quiet_option
@common
def load_and_eval(repo_id: str, strict: bool, as_json: bool, quiet: bool, **options: Any) -> None:
    """Download a model (safetensors + JSON only), re-evaluate it, and check its card's claim.

    Exit status 0 whatever the verdict, unless --strict: then 1 when the claim is not
    supported by the measurement or the card claims no score."""
    from hubpg.api import load_and_eval as run_load_and_eval

    result = run_load_and_eval(repo_id, progress=not (quiet or as_json), **options)
    show(result, quiet=quiet, as_json=as_json)
    if strict:
        result.check_strict()


# --------------------------------------------------------------------------- leaderboard


@cli.command()
@click.argument("env_id")
@click.option("--author", help="Only models of this user or organisation.")
@click.option("--top", type=POSITIVE_INT, help="Show the K best ranked models.")
@click.option(
    "--verify", is_flag=True, help="Download and re-evaluate every model; rank by measured score."
)
@click.option(
    "--episodes",
    type=POSITIVE_INT,
    default=100,
    show_default=True,
    help="Evaluation episodes per model (with --verify).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of episode 0 (episode k: S+k)."
)
@click.option(
    "--workers",
    type=POSITIVE_INT,
    help="Verification processes (1: this process).  [default: the core count]",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help='Verify as tasks on this Ray cluster ("local" starts one here; pip install "hubpg[ray]").',
)
@click.option(
    "--max-t",
    type=POSITIVE_INT,
    help="Episode cap (with --verify).  [default: the env's evaluation cap]",
)
@click.option(
    "--deterministic", is_flag=True, help="Argmax actions instead of sampled (with --verify)."
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite store of verifications; models already verified at their listed commit are "
    "not evaluated again.  [default: $XDG_CACHE_HOME/hubpg/verifications.sqlite]",
)
@click.option(
    "--reverify", is_flag=True, help="Evaluate every model again, ignoring stored verifications."
)
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a static leaderboard site here (index.html, leaderboard.json, a Space README).",
)
@click.option(
    "--legacy",
    is_flag=True,
    help="With --verify: read repos that hold only a course checkpoint (model.pt) "
    "weights-only (no code runs); refused files are set apart with the reason.",
)
@click.option(
    "--tag",
    metavar="TAG",
    help="Only models also tagged TAG (e.g. reinforce).  [default: every model tagged ENV_ID]",
)
@click.option(
    "--repo-timeout",
    type=POSITIVE_FLOAT,
    help="With --verify: seconds one model may take to download and rebuild before it is set "
    "apart as timed out.  [default: 600]",
)
@hub_options
@json_option
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print CSV (a header, then one line per model)."
)
@quiet_option
@common
def leaderboard(
    html_dir: Path | None,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
    **options: Any,
) -> None:
    """Rank the models tagged ENV_ID by claimed (or, with --verify, measured) mean - std;
    models of other libraries are marked "not verifiable here", cards that cannot be ranked
    are listed apart with the reason. Verifications are kept in a SQLite store (--db), so
    unchanged models are not evaluated again; --html DIR writes a static site of the
    leaderboard."""
    from hubpg.api import default_db_path, leaderboard_site
    from hubpg.api import leaderboard as run_leaderboard

    env_id, verify = options.pop("env_id"), options["verify"]
    options["ray"] = options.pop("ray_address")
    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    if html_dir is not None and not verify:
        raise click.UsageError("--html needs --verify (the page shows measured scores)")
    if not verify and any(options[k] for k in ("workers", "ray", "legacy", "repo_timeout")):
        say("note: --workers, --ray, --legacy and --repo-timeout only matter with --verify", quiet)
    if verify:
        options["db"] = options["db"] or default_db_path()
    else:
        options.update(db=None, ray=None)
    board = run_leaderboard(env_id, progress=not (quiet or as_json or as_csv), **options)
    rows = board.rows
    if html_dir is not None:
        protocol = {k: options[k] for k in ("episodes", "seed", "deterministic", "max_t")}
        site = leaderboard_site(board, html_dir, **protocol)
        say(f"leaderboard site written to {site}/ (index.html, leaderboard.json)", quiet)
    if as_json:
        emit_json(board.to_dict())
        return
    if as_csv:
        click.echo(board.csv, nl=False)
        return
    ranked = len(board.ranked)
    author, top, tags = options["author"], options["top"], env_id
    if options["tag"]:
        tags += f" and {options['tag']}"
    by = (
        f"measured mean - std ({options['episodes']} episodes each)"
        if verify
        else "claimed mean - std"
    )
    say(
        f"models tagged {tags} on {board.endpoint}{f' by {author}' if author else ''}: "
        f"{ranked} ranked by {by}{f' (top {top})' if top else ''}, "
        f"{len(rows) - ranked} set apart",
        quiet,
    )
    if verify:
        now = sum(r["verified"] == "now" for r in rows)
        stored = sum(r["verified"] == "stored" for r in rows)
        say(f"evaluated now: {now}, from the verification store: {stored}", quiet)
    if rows:
        click.echo(str(board))


# --------------------------------------------------------------------------- convert


@cli.command()
@click.argument("source", type=PATH, required=False)
@click.option(
    "--repo",
    "repo_id",
    metavar="NAMESPACE/NAME",
    help="Convert this Hub repo's course checkpoint instead of a local file.",
)
@click.option("--revision", help="Branch, tag or commit sha (with --repo).")
@click.option("--out", type=PATH, required=True, help="The folder to write.")
@click.option(
    "--env-id",
    help="The env it plays.  [default: from hyperparameters.json, results.json or the card]",
)
@click.option(
    "--max-mib",
    type=POSITIVE_INT,
    default=64,
    show_default=True,
    help="Refuse checkpoints larger than this many MiB.",
)
@click.option("--overwrite", is_flag=True, help="Replace the files of an existing --out folder.")
@hub_options
@json_option
@quiet_option
@common
def convert(
    source: Path | None, repo_id: str | None, as_json: bool, quiet: bool, **options: Any
) -> None:
    """Convert a course checkpoint (SOURCE, or --repo's model.pt) into a hubpg folder.

    The pickle is read with torch's weights-only loader (no code from it runs) and
    written as model.safetensors + config.json, which hubpg evaluate, package and
    push accept; legacy.json says where it came from and what was assumed."""
    from hubpg.api import convert as run_convert

    if (source is None) == (repo_id is None):
        raise click.UsageError("give a checkpoint SOURCE file or --repo NAMESPACE/NAME")
    result = run_convert(source, repo=repo_id, progress=not (quiet or as_json), **options)
    show(result, quiet=quiet, as_json=as_json)


# --------------------------------------------------------------------------- hub serve


@cli.group(cls=Group)
def hub() -> None:
    """A Hub-compatible server for offline use and tests."""


@hub.command("serve")
@click.option(
    "--host", default=hub_defaults.DEFAULT_HOST, show_default=True, help=hub_defaults.HOST_HELP
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=hub_defaults.DEFAULT_PORT,
    show_default=True,
    help=hub_defaults.PORT_HELP,
)
@click.option(
    "--data",
    "data_dir",
    type=PATH,
    default=hub_defaults.DEFAULT_DATA_DIR,
    show_default=True,
    help=hub_defaults.DATA_HELP,
)
@click.option("--user", "users", multiple=True, metavar="NAME:TOKEN", help=hub_defaults.USER_HELP)
@click.option("--ready-file", type=PATH, help=hub_defaults.READY_FILE_HELP)
@click.option("--access-log", is_flag=True, help=hub_defaults.ACCESS_LOG_HELP)
@common
def hub_serve(users: tuple[str, ...], **options: Any) -> None:
    """Serve a Hub-compatible API, and model pages for a browser, on HOST:PORT with storage
    in --data (open the printed URL to browse the models)."""
    from hubpg.localhub import parse_user_spec, serve

    accounts = dict(reversed(parse_user_spec(u)) for u in users)
    serve(users=accounts, **options)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map errors to one line on stderr and an exit status."""
    debug = _debug_enabled() or "--debug" in (argv or [])
    try:
        cli.main(args=argv, prog_name="hubpg", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # click's name for Ctrl-C (or EOF at a prompt)
        stopped = "interrupted" if isinstance(exc.__cause__, KeyboardInterrupt) else "aborted"
        click.echo(f"error: {stopped}.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(EXIT_FAILED)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the last line of defence
        if debug:  # --debug: the traceback, before the usual one-line error and exit status
            import traceback

            traceback.print_exc()
        message, code = _failure(exc, argv)
        click.echo(f"error: {message}", err=True)
        sys.exit(code)


def _failure(exc: BaseException, argv: list[str] | None) -> tuple[str, int]:
    """The one-line message and exit status of an error that ended a command."""
    if isinstance(exc, click.ClickException):
        command = " ".join(sys.argv[1:2]) if argv is None else " ".join(argv[:1])
        if command not in cli.commands:  # "hubpg trian": the group's help, not "trian"'s
            command = ""
        hint = f" See 'hubpg {command} --help'." if command else " See 'hubpg --help'."
        return f"{sentence(exc.format_message())}{hint}", exc.exit_code or EXIT_USAGE
    if isinstance(exc, HubpgError):
        return sentence(str(exc)), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return (sentence(str(exc)) if str(exc) else "interrupted."), EXIT_INTERRUPTED
    return (
        f"unexpected {type(exc).__name__}: {sentence(str(exc))} "
        "Re-run with --debug for the traceback, and please report it."
    ), EXIT_FAILED


if __name__ == "__main__":
    main()


__all__ = ["cli", "main"]
