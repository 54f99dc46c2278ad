"""OPC UA methods with checked arguments, and the operator commands of every cell.

asyncua hands a method's raw input Variants to its callback and answers any exception with
BadUnexpectedError. `checked_method` puts the Call service's own rules in front: too few
arguments -> BadArgumentsMissing, too many -> BadTooManyArguments, a wrong data type ->
BadInvalidArgument with BadTypeMismatch for that argument, a value the method refuses
(`ArgumentRejected`) -> BadInvalidArgument with BadOutOfRange, and a command the machine
cannot take now (`CommandRejected`) -> BadInvalidState.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asyncua import ua

from factory_sim.plant import CommandRejected

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arg:
    name: str
    vtype: ua.VariantType
    description: str

    def argument(self) -> ua.Argument:
        return ua.Argument(Name=self.name, DataType=ua.NodeId(self.vtype.value), ValueRank=-1,
                           ArrayDimensions=[], Description=ua.LocalizedText(self.description))


class ArgumentRejected(ValueError):
    """An argument has the right type but a value the method cannot accept."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


#: vtypes a numeric argument may arrive as (clients send what their language gives them)
_NUMERIC = {ua.VariantType.Double, ua.VariantType.Float, ua.VariantType.Int16,
            ua.VariantType.Int32, ua.VariantType.Int64, ua.VariantType.UInt16,
            ua.VariantType.UInt32, ua.VariantType.UInt64, ua.VariantType.Byte,
            ua.VariantType.SByte}
_INTEGER = _NUMERIC - {ua.VariantType.Double, ua.VariantType.Float}


def _result(status: int, arg_results: list[int] | None = None) -> ua.CallMethodResult:
    return ua.CallMethodResult(
        StatusCode=ua.StatusCode(status),
        InputArgumentResults=[ua.StatusCode(code) for code in arg_results or []],
    )


def _accepts(arg: Arg, variant: ua.Variant) -> bool:
    if variant.is_array:
        return False
    if arg.vtype == ua.VariantType.Double:
        return variant.VariantType in _NUMERIC and variant.Value == variant.Value  # not NaN
    if arg.vtype == ua.VariantType.UInt32:  # an id, whichever integer type carries it
        return variant.VariantType in _INTEGER and 0 <= variant.Value < 2**32
    return variant.VariantType == arg.vtype


def check_arguments(args: list[Arg], variants: tuple[ua.Variant, ...]) \
        -> ua.CallMethodResult | None:
    """The Call service's answer to arguments that do not fit `args`, or None if they do."""
    if len(variants) < len(args):
        return _result(ua.StatusCodes.BadArgumentsMissing)
    if len(variants) > len(args):
        return _result(ua.StatusCodes.BadTooManyArguments)
    checks = [ua.StatusCodes.Good if _accepts(arg, v) else ua.StatusCodes.BadTypeMismatch
              for arg, v in zip(args, variants, strict=True)]
    if any(code != ua.StatusCodes.Good for code in checks):
        return _result(ua.StatusCodes.BadInvalidArgument, checks)
    return None


def checked_method(args: list[Arg],
                   handler: Callable[..., Awaitable[list[ua.Variant] | None]]):
    """A method callback for asyncua that checks `args` before calling `handler(*values)`."""

    async def call(parent: ua.NodeId, *variants: ua.Variant):
        refused = check_arguments(args, variants)
        if refused is not None:
            return refused
        values = [float(v.Value) if arg.vtype == ua.VariantType.Double else v.Value
                  for arg, v in zip(args, variants, strict=True)]
        try:
            outputs = await handler(*values)
        except ArgumentRejected as exc:
            codes = [ua.StatusCodes.Good] * len(args)
            codes[exc.index] = ua.StatusCodes.BadOutOfRange
            _logger.info("method argument refused: %s", exc)
            return _result(ua.StatusCodes.BadInvalidArgument, codes)
        except CommandRejected as exc:
            _logger.info("command refused: %s", exc)
            return _result(ua.StatusCodes.BadInvalidState)
        return ua.CallMethodResult(StatusCode=ua.StatusCode(), OutputArguments=outputs or [])

    return call
