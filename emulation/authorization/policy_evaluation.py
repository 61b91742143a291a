"""IAM policy evaluation for the local stack: identity policies and one resource policy, as AWS's policy
evaluation logic decides a request within an account or across two.

moto's own IAM enforcement cannot do it: it ignores resource ARNs outside S3, turns an Allow whose
condition does not hold into an explicit Deny, and knows no policy variables. What is here is the part of
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html that the
product's policies use: Action/NotAction, Resource/NotResource with wildcards and policy variables,
Principal for resource policies, and the string, ARN, Bool and Null condition operators with IfExists and
the ForAnyValue/ForAllValues set qualifiers. An operator it does not know is an error, never a match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

ContextValue = str | Sequence[str]


class Effect(Enum):
    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitly denied"
    IMPLICIT_DENY = "not allowed"


@dataclass(frozen=True)
class Request:
    """One IAM authorization question: may `principal_arn` do `action` on `resource`, in `context`?"""

    # arn:aws:sts::<account>:assumed-role/<role>/<session>, an IAM user/role ARN, or a service principal
    # (events.amazonaws.com) acting on a resource policy's grant
    principal_arn: str
    action: str  # service:Action
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    resource_account: str | None = None  # the resource's owner; None: the principal's own account

    @property
    def service_principal(self) -> bool:
        return not self.principal_arn.startswith("arn:")

    @property
    def principal_account(self) -> str:
        return "" if self.service_principal else self.principal_arn.split(":")[4]

    @property
    def role_arn(self) -> str | None:
        """The role behind an assumed-role session (what aws:PrincipalArn and resource policies name)."""
        parts = self.principal_arn.split(":", 5)
        if len(parts) == _ARN_PARTS and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
            role_name = parts[5].split("/")[1]
            return f"arn:{parts[1]}:iam::{parts[4]}:role/{role_name}"
        return None


@dataclass(frozen=True)
class Decision:
    effect: Effect
    request: Request
    denied_by: str | None = None  # "identity-based policy" / "resource-based policy" for explicit denies
    # Condition keys of Allow statements that matched the action and resource but whose condition did not
    # hold: EventBridge turns these into NotAuthorizedForSourceException and the like.
    unmet_condition_keys: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    def message(self) -> str:
        """AWS's wording of an AccessDenied message."""
        request = self.request
        where = f"User: {request.principal_arn} is not authorized to perform: {request.action} on resource: "
        where += request.resource
        if self.effect is Effect.EXPLICIT_DENY:
            return f"{where} with an explicit deny in a {self.denied_by}"
        if request.resource_account not in (None, request.principal_account):
            return f"{where} because no resource-based policy allows the {request.action} action"
        return f"{where} because no identity-based policy allows the {request.action} action"


class PolicyError(ValueError):
    """A policy uses something this evaluator does not implement: refuse rather than guess."""


def evaluate(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """AWS's decision for `request` under the principal's identity policies and the resource's policy."""
    context = _context(request)
    identity = _Outcome.of(_statements(identity_policies), request, context, principal_check=False)
    resource = _Outcome.of(
        _statements([resource_policy] if resource_policy else []), request, context, principal_check=True
    )
    unmet = identity.unmet_keys | resource.unmet_keys
    if identity.denied:
        return Decision(Effect.EXPLICIT_DENY, request, "identity-based policy", unmet)
    if resource.denied:
        return Decision(Effect.EXPLICIT_DENY, request, "resource-based policy", unmet)
    same_account = request.resource_account in (None, request.principal_account)
    # Within an account either kind of policy may allow (a resource policy that names the account only
    # delegates to IAM); across accounts both must. A service principal has only the resource's grant.
    if request.service_principal:
        allowed = resource.allowed_principal_itself
    elif same_account:
        allowed = identity.allowed or resource.allowed_principal_itself
    else:
        allowed = identity.allowed and resource.allowed
    return Decision(Effect.ALLOW if allowed else Effect.IMPLICIT_DENY, request, None, unmet)


@dataclass
class _Outcome:
    allowed: bool = False
    allowed_principal_itself: bool = False  # an Allow naming the role or session, not only the account
    denied: bool = False
    unmet_keys: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        statements: Iterable[Mapping[str, Any]],
        request: Request,
        context: Mapping[str, ContextValue],
        *,
        principal_check: bool,
    ) -> _Outcome:
        outcome = cls()
        unmet: set[str] = set()
        for statement in statements:
            principal_match = _principal_match(statement, request) if principal_check else "itself"
            if principal_match is None:
                continue
            if not (
                _action_matches(statement, request.action) and _resource_matches(statement, request, context)
            ):
                continue
            failed = _failed_condition_keys(statement.get("Condition", {}), context)
            effect = statement.get("Effect")
            if failed:
                if effect == "Allow":
                    unmet |= failed
                continue
            if effect == "Deny":
                outcome.denied = True
            elif effect == "Allow":
                outcome.allowed = True
                outcome.allowed_principal_itself |= principal_match == "itself"
            else:
                raise PolicyError(f"statement Effect must be Allow or Deny, got {effect!r}")
        outcome.unmet_keys = frozenset(unmet)
        return outcome


def _statements(policies: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for policy in policies:
        statements = policy.get("Statement", [])
        yield from [statements] if isinstance(statements, Mapping) else statements


def _context(request: Request) -> dict[str, ContextValue]:
    """The request's context keys (lower-cased: keys are case-insensitive) with the global principal keys."""
    context: dict[str, ContextValue] = (
        {"aws:principalservicename": request.principal_arn}
        if request.service_principal
        else {
            "aws:principalaccount": request.principal_account,
            "aws:principalarn": request.role_arn or request.principal_arn,
        }
    )
    context.update({key.lower(): value for key, value in request.context.items()})
    return context


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


# -- action, resource, principal -------------------------------------------------------------------


@cache
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: * is any run of characters, ? any one character; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(wildcard_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    raise PolicyError("statement has neither Action nor NotAction")


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(pattern: str, context: Mapping[str, ContextValue]) -> str | None:
    """Resolve policy variables; None when one is missing (the statement then matches nothing)."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in {"*", "?", "$"}:
            # Escapes for a literal character: wrap so the wildcard step keeps it literal.
            return "\x00" + name
        value = context.get(name.lower())
        if not isinstance(value, str):
            missing = True
            return ""
        return value.replace("*", "\x00*").replace("?", "\x00?")

    resolved = _VARIABLE.sub(replace, pattern)
    return None if missing else resolved


def _resource_pattern_matches(pattern: str, resource: str, context: Mapping[str, ContextValue]) -> bool:
    resolved = _substitute(pattern, context)
    if resolved is None:
        return False
    if "\x00" not in resolved:
        return wildcard_match(resolved, resource)
    # Literal * or ? from a variable's value or an escape: match piecewise.
    body = ""
    literal = False
    for char in resolved:
        if char == "\x00":
            literal = True
            continue
        body += re.escape(char) if literal or char not in "*?" else (".*" if char == "*" else ".")
        literal = False
    return re.fullmatch(body, resource, re.DOTALL) is not None


def _resource_matches(
    statement: Mapping[str, Any], request: Request, context: Mapping[str, ContextValue]
) -> bool:
    if "Resource" in statement:
        return any(
            _resource_pattern_matches(p, request.resource, context) for p in _as_list(statement["Resource"])
        )
    if "NotResource" in statement:
        return not any(
            _resource_pattern_matches(p, request.resource, context)
            for p in _as_list(statement["NotResource"])
        )
    # Resource policies may leave Resource out only where it is implied (a key policy names "*").
    return True


def _principal_match(statement: Mapping[str, Any], request: Request) -> str | None:
    """How a resource policy statement names the caller: "itself" (its role, session or everyone),
    "account" (its account only, which delegates to IAM), or None."""
    if "NotPrincipal" in statement:
        raise PolicyError("NotPrincipal is not implemented by the local evaluator")
    principal = statement.get("Principal")
    if principal is None:
        raise PolicyError("a resource policy statement needs a Principal")
    if principal == "*":
        return "itself"
    if request.service_principal:
        services = _as_list(principal.get("Service", [])) if isinstance(principal, Mapping) else []
        return "itself" if request.principal_arn in services else None
    names = _as_list(principal.get("AWS", [])) if isinstance(principal, Mapping) else []
    account = request.principal_account
    partition = request.principal_arn.split(":")[1]
    match: str | None = None
    for name in names:
        if name == "*" or name in {request.principal_arn, request.role_arn}:
            return "itself"
        if name in {account, f"arn:{partition}:iam::{account}:root"}:
            match = "account"
    return match


# -- conditions ------------------------------------------------------------------------------------


def _failed_condition_keys(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]
) -> frozenset[str]:
    """The keys whose condition does not hold (empty: the whole Condition block holds)."""
    failed: set[str] = set()
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if not _condition_holds(operator, key.lower(), _as_list(expected), context):
                failed.add(key.lower())
    return frozenset(failed)


_ARN_PARTS = 6


def _arn_like(pattern: str, arn: str) -> bool:
    # Each of the six colon-separated parts is matched on its own.
    want, got = pattern.split(":", 5), arn.split(":", 5)
    return len(want) == len(got) == _ARN_PARTS and all(
        wildcard_match(w, g) for w, g in zip(want, got, strict=True)
    )


_STRING_OPERATORS = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": wildcard_match,
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": _arn_like,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(
    operator: str, key: str, expected: list[Any], context: Mapping[str, ContextValue]
) -> bool:
    qualifier, _, base = operator.partition(":") if ":" in operator else ("", "", operator)
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    present = key in context
    if base == "Null":
        # "true": the key must be absent; "false": present.
        return all(str(value).lower() == ("true" if not present else "false") for value in expected)
    if not present:
        if if_exists:
            return True
        # Documented: a missing key fails a matching operator and satisfies a negated one; ForAllValues
        # over no values holds, ForAnyValue does not.
        if qualifier == "ForAllValues":
            return True
        return base in _NEGATED
    values = _as_list(context[key])
    expected_text = [str(value) for value in expected]
    if base == "Bool":
        test = _matcher("StringEqualsIgnoreCase")
    elif base in _NEGATED:
        positive = _matcher(_NEGATED[base])
        return _qualified(qualifier, values, lambda got: not any(positive(w, got) for w in expected_text))
    else:
        test = _matcher(base)
    return _qualified(qualifier, values, lambda got: any(test(w, got) for w in expected_text))


def _matcher(operator: str) -> Any:
    try:
        return _STRING_OPERATORS[operator]
    except KeyError:
        raise PolicyError(
            f"condition operator {operator} is not implemented by the local evaluator"
        ) from None


def _qualified(qualifier: str, values: list[str], holds: Any) -> bool:
    if qualifier == "ForAllValues":
        return all(holds(value) for value in values)
    if qualifier in {"ForAnyValue", ""}:
        return any(holds(value) for value in values)
    raise PolicyError(f"condition set qualifier {qualifier} is not implemented by the local evaluator")
