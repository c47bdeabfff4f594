"""Reading synthesized CloudFormation: resources by type, intrinsics flattened to strings."""

import json
from typing import Any


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def one(template: dict[str, Any], type_: str) -> dict[str, Any]:
    found = resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def flatten(value: Any) -> str:
    """An intrinsic as a readable string: `<import:Name>/raw/*`, `<MessageBucket.Arn>`, ..."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::Join":
            delimiter, parts = arg
            return str(delimiter).join(flatten(p) for p in parts)
        if fn == "Fn::ImportValue":
            return f"<import:{flatten(arg)}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetStackOutput":
            return f"<output:{arg['OutputName']}>"
        if fn == "Fn::Sub":
            return str(arg if isinstance(arg, str) else arg[0])
        if fn.startswith("Fn::"):
            return f"<{fn}>"  # no quotes: it may sit inside a JSON string (a dashboard body)
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every Allow statement granted to a role through AWS::IAM::Policy resources."""
    found: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = [flatten(r) for r in policy["Properties"].get("Roles", [])]
        if f"<{role_logical_id}>" in roles:
            found += [
                s
                for s in policy["Properties"]["PolicyDocument"]["Statement"]
                if s["Effect"] == "Allow"
            ]
    return found


def grants(template: dict[str, Any], role_logical_id: str) -> set[tuple[str, str]]:
    """(action, resource) pairs a role is allowed, resources flattened."""
    pairs: set[tuple[str, str]] = set()
    for statement in statements(template, role_logical_id):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                pairs.add((action, flatten(resource)))
    return pairs


def logical_id_of(template: dict[str, Any], type_: str, prefix: str) -> str:
    matches = [k for k in resources(template, type_) if k.startswith(prefix)]
    assert len(matches) == 1, f"{type_} {prefix}*: {matches}"
    return matches[0]
