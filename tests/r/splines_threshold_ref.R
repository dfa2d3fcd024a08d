# Reference values for tests/test_threshold.py (run by rhelpers.run_r in a temporary directory).
# Inputs: adults.csv, params.json (candidates, covariates, k_smi). For every candidate K the
# two-piece logistic Model 3 over subset(design, in_cohort == 1): its deviance; at the best K
# the slopes below/above with t CIs from vcov, regTermTest of the hinge, and the one-line
# model's deviance; the P of H0: threshold = K at every candidate. For ln SMI the same at
# the given K.
suppressPackageStartupMessages({ library(survey); library(jsonlite) })
options(survey.lonely.psu = "fail")
p <- fromJSON("params.json", simplifyVector = TRUE)
d <- read.csv("adults.csv", stringsAsFactors = FALSE, na.strings = c("NA", ""))
cov_rhs <- paste(p$covariates, collapse = " + ")
fit_at <- function(y, k, fam) {
  d$hinge <- pmax(d$ln_mg - k, 0)
  des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
  svyglm(as.formula(paste(y, "~ ln_mg + hinge +", cov_rhs)), design = subset(des, in_cohort == 1),
         family = fam)
}
summ <- function(fit, y, fam) {
  des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
  one <- svyglm(as.formula(paste(y, "~ ln_mg +", cov_rhs)), design = subset(des, in_cohort == 1),
                family = fam)
  cf <- coef(fit); V <- vcov(fit); q <- qt(0.975, fit$df.residual)
  a <- c(ln_mg = 1, hinge = 1)
  above <- sum(cf[c("ln_mg", "hinge")]); se_above <- sqrt(drop(t(a) %*% V[names(a), names(a)] %*% a))
  below <- cf[["ln_mg"]]; se_below <- sqrt(V["ln_mg", "ln_mg"])
  h <- regTermTest(fit, ~hinge)
  list(below = c(below, below - q * se_below, below + q * se_below),
       above = c(above, above - q * se_above, above + q * se_above),
       p_above = 2 * pt(abs(above / se_above), fit$df.residual, lower.tail = FALSE),
       p_hinge = as.numeric(h$p), F_hinge = as.numeric(h$Ftest),
       dev_two = deviance(fit), dev_one = deviance(one),
       slope = coef(one)[["ln_mg"]], df_resid = fit$df.residual)
}
dev <- sapply(p$candidates, function(k) deviance(fit_at("lmm", k, quasibinomial())))
best <- p$candidates[which.min(dev)]
# Test of H0: threshold = K (test inversion): (D(K) - D(best)) over the Rao-Scott design
# effect of the step 1(ln_mg > K) added to the two-piece model, vcov / naive.cov.
inv_p <- sapply(seq_along(p$candidates), function(i) {
  k <- p$candidates[i]
  d$hinge <- pmax(d$ln_mg - k, 0); d$step <- as.numeric(d$ln_mg > k)
  des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
  f <- svyglm(as.formula(paste("lmm ~ ln_mg + hinge + step +", cov_rhs)),
              design = subset(des, in_cohort == 1), family = quasibinomial())
  deff <- vcov(f)["step", "step"] / f$naive.cov["step", "step"]
  pchisq((dev[i] - min(dev)) / deff, 1, lower.tail = FALSE)
})
out <- list(deviance = dev, best = best, inversion_p = inv_p,
            lmm = summ(fit_at("lmm", best, quasibinomial()), "lmm", quasibinomial()),
            smi = summ(fit_at("ln_smi", p$k_smi, gaussian()), "ln_smi", gaussian()))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "out.json")
