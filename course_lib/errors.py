"""The one exception type for mistakes a user can make."""


class CourseError(ValueError):
    """Bad input: the message says what was wrong and what to do instead."""
