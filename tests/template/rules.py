"""The template's `Rules`, evaluated offline as CloudFormation checks them before it changes anything.

Only the rule functions CloudFormation documents are known here, so a rule that uses anything else fails the
tests rather than the deployment:
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-rules.html
(`Fn::And`, `Fn::Contains`, `Fn::EachMemberEquals`, `Fn::EachMemberIn`, `Fn::Equals`, `Fn::Not`, `Fn::Or`,
`Fn::RefAll`, `Fn::ValueOf`, `Fn::ValueOfAll`, and `Ref` inside all but the last two). `Fn::RefAll`,
`Fn::ValueOf` and `Fn::ValueOfAll` read AWS-specific parameter types this template does not use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.template.cfn import Stack

RULE_FUNCTIONS = frozenset(
    {
        "Fn::And",
        "Fn::Contains",
        "Fn::EachMemberEquals",
        "Fn::EachMemberIn",
        "Fn::Equals",
        "Fn::Not",
        "Fn::Or",
        "Fn::RefAll",
        "Fn::ValueOf",
        "Fn::ValueOfAll",
    }
)


def functions_used(node: Any) -> Iterator[str]:
    """Every intrinsic (Fn::* or Ref) named anywhere in `node`."""
    if isinstance(node, list):
        for item in node:
            yield from functions_used(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::"):
                yield key
            yield from functions_used(value)


def _value(stack: Stack, node: Any) -> Any:
    """An operand: a literal, a list, a Ref (to a parameter or pseudo parameter) or a rule function."""
    if isinstance(node, list):
        return [_value(stack, item) for item in node]
    if isinstance(node, dict):
        ((key, argument),) = node.items()
        if key == "Ref":
            return str(stack.resolve(node))
        if key not in _EVALUATED:
            raise ValueError(f"{key} is not evaluated offline (it reads the account, or is no rule function)")
        return _EVALUATED[key]([_value(stack, item) for item in argument])
    return str(node)


# Each takes its operands already evaluated.
_EVALUATED: dict[str, Callable[[list[Any]], bool]] = {
    "Fn::Equals": lambda operands: bool(operands[0] == operands[1]),
    "Fn::Not": lambda operands: not operands[0],
    "Fn::And": all,
    "Fn::Or": any,
    "Fn::Contains": lambda operands: operands[1] in operands[0],
    "Fn::EachMemberEquals": lambda operands: all(member == operands[1] for member in operands[0]),
    "Fn::EachMemberIn": lambda operands: all(member in operands[1] for member in operands[0]),
}


def refusals(stack: Stack) -> list[str]:
    """The AssertDescription of every assertion this deployment's parameters fail, in template order."""
    failed: list[str] = []
    for rule in stack.template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _value(stack, rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not _value(stack, assertion["Assert"]):
                failed.append(assertion["AssertDescription"])
    return failed
