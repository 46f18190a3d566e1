"""course_lib: the helper library behind the Compression Lab notebooks."""

from course_lib.errors import CourseError

__all__ = ["CourseError"]
