"""The specifications: frozen pydantic models of indicators, frameworks and data
dictionaries, validated where YAML enters (errors located at ``file:line:column``)."""
