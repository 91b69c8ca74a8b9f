"""The gKRLS engine: kernel, spline, random-effect and parametric terms tuned by REML."""
