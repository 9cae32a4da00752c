"""CEL validation rules of CRD schemas (``x-kubernetes-validations``), as kube-apiserver runs them.

Each rule is compiled once per schema node (with ``cel-python``) and evaluated with ``self``
bound to the node's value, after the value passed its type and format checks. A rule that
evaluates to false (or fails to evaluate) is a cause at that node's field path, with the
rule's ``message`` (or "failed rule: RULE"). ``oldSelf`` (transition rules) is not bound:
rules that use it are skipped, as the store validates each object on its own.

Run-time bound: cel-python interprets the parse tree, ~30 µs per node on this machine (some
hundred times kube's compiled CEL), and a rule runs on the event loop. So besides the estimate
made when the CRD is written (``celcost.py``), each evaluation may visit at most
``PER_CALL_VISITS`` nodes and all rules of one request ``PER_REQUEST_VISITS``
(:func:`request_budget`); past that the rule fails with kube's messages, in well under a
second, instead of holding every other request up.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import celpy
import celpy.adapter
import celpy.celtypes
import lark
from celpy.evaluation import Evaluator

from statestore.errors import Cause

#: Nodes one evaluation of one rule may visit (cel-python's unit of work).
PER_CALL_VISITS = 20_000
#: Nodes all rules of one request may visit together.
PER_REQUEST_VISITS = 60_000


class _Budget:
    def __init__(self, visits: int) -> None:
        self.remaining = visits


class CostExceeded(Exception):
    def __init__(self, scope: str) -> None:
        # NB: cel-go's wording, which kube-apiserver passes on.
        super().__init__("operation cancelled: actual cost limit exceeded")
        self.scope = scope  # "call" or "request"


_REQUEST: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "wws_cel_request_budget", default=None
)


class _CostedEvaluator(Evaluator):
    """cel-python's evaluator, counting every node it visits against two budgets."""

    call: _Budget
    request: _Budget | None

    def _visit_tree(self, tree: lark.Tree[Any]) -> Any:
        call = self.call
        call.remaining -= 1
        if call.remaining < 0:
            raise CostExceeded("call")
        request = self.request
        if request is not None:
            request.remaining -= 1
            if request.remaining < 0:
                raise CostExceeded("request")
        return super()._visit_tree(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        # NB: celpy builds a plain Evaluator for macro bodies; these count too.
        nested = _CostedEvaluator(ast, activation=self.activation)
        nested.call = self.call
        nested.request = self.request
        return nested


class CostedRunner(celpy.InterpretedRunner):
    """cel-python's interpreter with the run-time budgets (also for admission policies)."""

    def evaluate(self, context: Any) -> Any:
        evaluator = _CostedEvaluator(ast=self.ast, activation=self.new_activation())
        evaluator.call = _Budget(PER_CALL_VISITS)
        evaluator.request = _REQUEST.get()
        value = evaluator.evaluate(context)
        if evaluator.call.remaining < 0:  # an exception swallowed by exists() or ||
            raise CostExceeded("call")
        if evaluator.request is not None and evaluator.request.remaining < 0:
            raise CostExceeded("request")
        return value


_ENVIRONMENT = celpy.Environment(runner_class=CostedRunner)


@contextlib.contextmanager
def request_budget() -> Iterator[None]:
    """All rules evaluated inside share one budget of ``PER_REQUEST_VISITS``."""
    token = _REQUEST.set(_Budget(PER_REQUEST_VISITS))
    try:
        yield
    finally:
        _REQUEST.reset(token)


Check = Callable[[Any, str, list[Cause]], None]


class RuleError(ValueError):
    """A rule that does not compile; the CRD that carries it is invalid."""


def parse(rule: str) -> lark.Tree[Any]:
    """The parse tree of ``rule`` (for the cost estimate)."""
    try:
        return _ENVIRONMENT.compile(rule)
    except Exception as error:  # celpy raises its own parser errors
        raise RuleError(f"compilation failed: {error}") from error


def compile_rule(rule: str) -> Any:
    try:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(rule))
    except Exception as error:  # celpy raises its own parser errors
        raise RuleError(f"compilation failed: {error}") from error


def _field(path: str, field_path: str) -> str:
    if not field_path:
        return path
    return f"{path}{field_path}" if field_path.startswith(("[", ".")) else f"{path}.{field_path}"


def rule_check(validation: dict[str, Any]) -> Check | None:
    """The check of one ``x-kubernetes-validations`` entry (``None`` for transition rules)."""
    rule = str(validation.get("rule", ""))
    if "oldSelf" in rule:
        return None
    program = compile_rule(rule)
    message = str(validation.get("message") or f"failed rule: {rule}")
    reason = str(validation.get("reason") or "FieldValueInvalid")
    field_path = str(validation.get("fieldPath") or "")

    def check(value: Any, path: str, causes: list[Cause]) -> None:
        budget = _REQUEST.get()
        if budget is not None and budget.remaining < 0:
            return  # told once already: no further rules run
        try:
            result = program.evaluate({"self": celpy.adapter.json_to_cel(value)})
        except CostExceeded as exceeded:
            # kube-apiserver's wording for both budgets.
            if exceeded.scope == "call":
                detail = f"call cost exceeds limit for rule: {rule}"
                causes.append(Cause(_field(path, field_path), f"Invalid value: {detail}"))
            else:
                causes.append(
                    Cause(
                        path,
                        "Forbidden: validation failed due to running out of cost budget, "
                        "no further validation rules will be run",
                        "FieldValueForbidden",
                    )
                )
            return
        except Exception as error:  # an evaluation error fails the rule, as in Kubernetes
            result = error
        if result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            return
        detail = message
        if isinstance(result, Exception):
            detail = f"{message} (evaluation error: {result})"
        causes.append(Cause(_field(path, field_path), f"Invalid value: {detail}", reason))

    return check
