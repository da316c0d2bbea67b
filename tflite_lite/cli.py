"""Running absl programs: bad input becomes one line on stderr and exit status 2."""

import sys

from absl import app, flags, logging

from tflite_lite.errors import UserError

USER_ERROR_EXIT = 2


def run(main):
    """`absl.app.run(main)`, printing a `UserError` as `error: ...` instead of a traceback."""
    app.run(guarded(main), flags_parser=parse_flags)


def guarded(main):
    """`main` with a `UserError` turned into one `error:` line on stderr and exit status 2."""

    def guarded_main(argv):
        # TensorFlow's INFO lines (checkpoint sharding, converter passes) would bury the output.
        logging.set_verbosity(logging.WARNING)
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)

    return guarded_main


def parse_flags(argv):
    """absl's flag parsing, with a bad flag value reported like any other bad input."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error} (see --helpfull)", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


def reject_extra_args(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
