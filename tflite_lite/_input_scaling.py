"""How 0-255 pixels become a model's input, as a user states it: a range such as (0, 1), or
a per-channel mean and std. Shared by the training and export configs; imports no
TensorFlow, so that the command lines check these flags at once."""

from tflite_lite.errors import UserError

def stated_mean_std(input_range=None, input_mean=None, input_std=None):
    """(mean, std) of 0-255 pixels that these settings state, or None when they state none.

    Raises:
      UserError: a range that is not two increasing numbers, a mean without a std (or the
        reverse), a std that is not positive, or both a range and a mean / std.
    """
    if input_range is not None:
        if input_mean is not None or input_std is not None:
            raise UserError("give the input either as input_range or as input_mean and "
                            "input_std, not both")
        low, high = numbers(input_range, "input_range", count=2)
        if not low < high:
            raise UserError(f"input_range must be LOW,HIGH with LOW < HIGH, got {input_range!r}")
        std = 255.0 / (high - low)
        return (0.0 - low * std,), (std,)  # 0.0 - : no -0.0 in the records
    if (input_mean is None) != (input_std is None):
        raise UserError("input_mean and input_std go together: give both")
    if input_mean is None:
        return None
    mean, std = numbers(input_mean, "input_mean"), numbers(input_std, "input_std")
    if min(std) <= 0:
        raise UserError(f"input_std must be positive, got {input_std!r}")
    return mean, std


def numbers(values, name, count=None):
    """`values` (numbers, or text like "0,1") as a tuple of floats."""
    if isinstance(values, str):
        values = values.replace(" ", "").split(",")
    try:
        parsed = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be numbers separated by commas, got {values!r}") from None
    if not parsed or (count is not None and len(parsed) != count):
        raise UserError(f"{name} needs {count or 'one or more'} numbers, got {values!r}")
    return parsed
