"""Base class shared by every config section."""

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def rule(key: str, message: str) -> PydanticCustomError:
    """A rule between keys of a section, reported at ``key`` (relative to the section).

    Raise the returned error from a pydantic ``model_validator``; the loader
    shows the message at the key path the user wrote.
    """
    return PydanticCustomError("cross_field", "{message}", {"message": message, "key": key})
