"""The only change made to the synthesized templates before LocalStack deploys them.

It is forced by a gap in community LocalStack 2026.3.0, named in its docstring and in
docs/testing.md. Everything else deploys as `cdk deploy` would send it: the resource types
LocalStack has no provider for (the NLB, its listener and target group) deploy as its no-op
fallbacks (CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES), which is what the relay as a host process needs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Template = dict[str, Any]


def resolve_stack_outputs(template: Template, outputs: Mapping[str, Mapping[str, str]]) -> Template:
    """Replace each ``Fn::GetStackOutput`` with the named stack's output value.

    CDK's weak cross-stack references (``@aws-cdk/core:defaultCrossStackReferences: weak``) emit
    this CloudFormation intrinsic; LocalStack passes it through unresolved, so the functions
    would get a dict where the bucket name should be.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::GetStackOutput"}:
                ref = node["Fn::GetStackOutput"]
                try:
                    return outputs[ref["StackName"]][ref["OutputName"]]
                except KeyError as exc:
                    raise ValueError(
                        f"Fn::GetStackOutput names {ref['StackName']}.{ref['OutputName']}, "
                        "which is not deployed"
                    ) from exc
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resolved: Template = walk(copy.deepcopy(template))
    return resolved
