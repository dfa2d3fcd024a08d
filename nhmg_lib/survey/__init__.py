"""Design-based estimation for complex surveys (stratified, clustered, weighted), with no
knowledge of NHANES or of this paper: the design and its variance (``design``), GLMs and Wald
tests equal to R ``survey::svyglm`` with domain estimation (``glm``), means, quantiles and
tests equal to ``svymean``/``svyquantile``/``svychisq``/``svyranktest`` (``descriptive``),
many weighted fits at once (``batched``), bootstrap multipliers (``bootstrap``) and the
Rao-Scott working likelihood-ratio test of nested GLMs equal to ``anova(svyglm, svyglm)``
(``lrt``).

May import: numpy, scipy, pandas and ``nhmg_lib.errors`` only, so that it can be lifted out as
a package of its own. Its tests are the R parity tests.
"""
