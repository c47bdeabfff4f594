"""The one edit the LocalStack tier makes to synthesized templates (tests/localstack)."""

import pytest

from tests.localstack.template_edits import resolve_stack_outputs

pytestmark = pytest.mark.unit


def test_each_get_stack_output_becomes_the_named_output_and_nothing_else_changes() -> None:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Environment": {
                        "Variables": {
                            "INLET_BUCKET": {
                                "Fn::GetStackOutput": {
                                    "StackName": "S",
                                    "Region": "us-east-1",
                                    "OutputName": "Bucket",
                                }
                            },
                            "PLAIN": "x",
                        }
                    },
                    "Policy": [
                        {
                            "Fn::Join": [
                                "",
                                [
                                    {"Fn::GetStackOutput": {"StackName": "S", "OutputName": "Arn"}},
                                    "/*",
                                ],
                            ]
                        }
                    ],
                },
            }
        }
    }
    resolved = resolve_stack_outputs(template, {"S": {"Bucket": "b-1", "Arn": "arn:b-1"}})
    props = resolved["Resources"]["Fn"]["Properties"]
    assert props["Environment"]["Variables"] == {"INLET_BUCKET": "b-1", "PLAIN": "x"}
    assert props["Policy"] == [{"Fn::Join": ["", ["arn:b-1", "/*"]]}]
    assert "Fn::GetStackOutput" in str(template)  # the input is left as it was


def test_an_output_of_a_stack_not_deployed_is_an_error_that_names_it() -> None:
    template = {
        "Outputs": {
            "X": {"Value": {"Fn::GetStackOutput": {"StackName": "Other", "OutputName": "Y"}}}
        }
    }
    with pytest.raises(ValueError, match=r"Other\.Y"):
        resolve_stack_outputs(template, {"S": {}})
