"""A template as one deployment of it would evaluate: parameter values, conditions and intrinsic functions
resolved offline. The template tier reads template.yaml through it, and the local stack resolves the
archiver role's policy from it, so the emulation enforces exactly what `sam deploy` would create."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


class _NoValue:
    """AWS::NoValue: the property or list item disappears."""


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Stack:
    """One deployment of a (transformed) template: what CloudFormation would evaluate, offline.

    Parameters take their template defaults unless given; a resource's Ref resolves to `physical_ids`
    when given there, otherwise to "<LogicalId>", and GetAtt to `attributes["LogicalId.Attribute"]` when
    given there, otherwise to "<LogicalId.Attribute>".
    """

    template: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)
    physical_ids: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    account_id: str = ACCOUNT_ID
    region: str = REGION
    partition: str = PARTITION
    stack_name: str = "cfn-hook-archive"

    def __post_init__(self) -> None:
        values = {
            name: str(spec.get("Default", "")) for name, spec in self.template.get("Parameters", {}).items()
        }
        unknown = set(self.parameters) - set(values)
        if unknown:
            raise KeyError(f"template has no parameter(s) {sorted(unknown)}")
        values.update(self.parameters)
        self.values = values
        self._conditions: dict[str, bool] = {}

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = self._evaluate(self.template["Conditions"][name])
        return self._conditions[name]

    def _evaluate(self, node: Any) -> bool:
        (function, argument), *_ = node.items()
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._evaluate(argument[0])
        if function == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if function == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        if function in {"Condition", "Fn::Condition"}:  # JSON spells it Condition, YAML's !Condition
            return self.condition(argument)
        raise ValueError(f"unsupported condition function {function}")

    # -- resources
    def resources(self, type_name: str | None = None) -> dict[str, dict[str, Any]]:
        """Resources this deployment creates (their conditions hold), properties resolved."""
        out = {}
        for logical_id, resource in self.template["Resources"].items():
            if type_name and resource["Type"] != type_name:
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[logical_id] = {**resource, "Properties": self.resolve(resource.get("Properties", {}))}
        return out

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.resources()[logical_id]

    def properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resource(logical_id)["Properties"]
        return properties

    def policy_statements(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every statement of every IAM and resource policy this deployment creates, with its owner."""
        for logical_id, resource in self.resources().items():
            properties = resource["Properties"]
            documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
            if "PolicyDocument" in properties:
                documents.append(properties["PolicyDocument"])
            for document in documents:
                statements = document["Statement"]
                for statement in statements if isinstance(statements, list) else [statements]:
                    yield logical_id, statement

    # -- intrinsic functions
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), *_ = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self._ref(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.attributes.get(f"{logical_id}.{attribute}", f"<{logical_id}.{attribute}>")
        if key == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(items))
        if key in {"Fn::Select", "Fn::Split"}:
            return self._list_function(key, argument)
        raise ValueError(f"unsupported intrinsic {key}")

    def _list_function(self, key: str, argument: Any) -> Any:
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        separator, text = argument
        return str(self.resolve(text)).split(separator)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.values:
            return self.values[name]
        if name in self.template["Resources"]:
            return self.physical_ids.get(name, f"<{name}>")
        raise KeyError(f"Ref to unknown {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        local = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                logical_id, attribute = name.split(".", 1)
                return str(self.resolve({"Fn::GetAtt": [logical_id, attribute]}))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)
