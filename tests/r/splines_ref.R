# Reference values for tests/test_splines.py (run in a temporary directory by rhelpers.run_r).
# Inputs: adults.csv (CONTRIBUTING columns + in_cohort), params.json with
#   vectors: named numeric vectors whose rms::rcs knots and columns are compared,
#   grid, covariates.
# Output out.json: per vector the knots and basis; per outcome the svyglm fit of the rms::rcs
# spline in Model 3 over subset(design, in_cohort == 1), regTermTest overall/nonlinear (F and
# chi-square) and the curve against the domain median.
suppressPackageStartupMessages({
  library(survey); library(rms); library(jsonlite)
})
options(survey.lonely.psu = "fail")
p <- fromJSON("params.json", simplifyVector = TRUE)
out <- list(vectors = list())
for (nm in names(p$vectors)) {
  x <- as.numeric(p$vectors[[nm]])
  b <- suppressWarnings(rcs(x, p$nk[[nm]]))
  out$vectors[[nm]] <- list(knots = as.numeric(attr(b, "parms")), basis = unclass(matrix(b, nrow = length(x))))
}
d <- read.csv("adults.csv", stringsAsFactors = FALSE, na.strings = c("NA", ""))
xdom <- d$ln_mg[d$in_cohort == 1]
k <- as.numeric(attr(rcs(xdom, 3), "parms"))   # knots from the domain, as rcs() in the model
out$knots <- k
ref <- median(xdom)
out$reference <- ref
basis <- matrix(NA_real_, nrow(d), 2)
ok <- !is.na(d$ln_mg)
basis[ok, ] <- matrix(rcs(d$ln_mg[ok], k), ncol = 2)
d$s1 <- basis[, 1]; d$s2 <- basis[, 2]           # svyglm needs every variable in the design
des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
dsub <- subset(des, in_cohort == 1)
for (y in c("lmm", "ln_smi")) {
  fam <- if (y == "lmm") quasibinomial() else gaussian()
  f <- as.formula(paste(y, "~ s1 + s2 +", paste(p$covariates, collapse = " + ")))
  fit <- svyglm(f, design = dsub, family = fam)
  cf <- coef(fit); V <- vcov(fit); sp <- c("s1", "s2")
  all_F <- regTermTest(fit, ~s1 + s2)
  all_C <- regTermTest(fit, ~s1 + s2, df = Inf)
  nl_F <- regTermTest(fit, ~s2)
  nl_C <- regTermTest(fit, ~s2, df = Inf)
  D <- sweep(matrix(rcs(p$grid, k), ncol = 2), 2, matrix(rcs(ref, k), ncol = 2))
  eta <- as.numeric(D %*% cf[sp]); se <- sqrt(rowSums((D %*% V[sp, sp]) * D))
  q <- qt(0.975, fit$df.residual)
  out[[y]] <- list(
    coef = unname(cf[sp]), se = unname(sqrt(diag(V))[sp]), df_resid = fit$df.residual,
    p_overall = as.numeric(all_F$p), F_overall = as.numeric(all_F$Ftest),
    chisq_overall = as.numeric(all_C$chisq), p_overall_chisq = as.numeric(all_C$p),
    p_nonlinear = as.numeric(nl_F$p), chisq_nonlinear = as.numeric(nl_C$chisq),
    p_nonlinear_chisq = as.numeric(nl_C$p),
    eta = eta, lo = eta - q * se, hi = eta + q * se)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"), "out.json")
