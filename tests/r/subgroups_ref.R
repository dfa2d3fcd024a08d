# Reference values for tests/test_subgroups.py (run by rhelpers.run_r in a temporary directory).
# Inputs: adults.csv, params.json (covariates). Outputs, for LMM (quasibinomial) and ln SMI
# (gaussian): Model 3 without the subgroup variable in the domain in_cohort & hypertension ==
# "Yes" (quartile and ln-Mg models), and regTermTest of the mg_q x subgroup interaction over
# the cohort domain for hypertension, education and age group (20-45 / 46-59); for the same
# subgroups the ln-Mg x subgroup regTermTest and the working LRT anova(full, reduced) (R's
# default saddlepoint tail) with its Satterthwaite variant.
suppressPackageStartupMessages({ library(survey); library(jsonlite) })
options(survey.lonely.psu = "fail")
p <- fromJSON("params.json", simplifyVector = TRUE)
d <- read.csv("adults.csv", stringsAsFactors = FALSE, na.strings = c("NA", ""))
d$mg_q <- factor(d$mg_q, levels = 1:4)
d$age_group <- ifelse(d$age <= 45, "20-45", "46-59")
des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
rhs <- function(drop) paste(setdiff(p$covariates, drop), collapse = " + ")
out <- list()
for (y in c("lmm", "ln_smi")) {
  fam <- if (y == "lmm") quasibinomial() else gaussian()
  dsub <- subset(des, in_cohort == 1 & hypertension == "Yes")
  fq <- svyglm(as.formula(paste(y, "~ mg_q +", rhs("hypertension"))), design = dsub, family = fam)
  fl <- svyglm(as.formula(paste(y, "~ ln_mg +", rhs("hypertension"))), design = dsub, family = fam)
  ci <- confint(fq)[c("mg_q2", "mg_q3", "mg_q4"), ]
  res <- list(q_coef = unname(coef(fq)[c("mg_q2", "mg_q3", "mg_q4")]), q_lo = unname(ci[, 1]),
              q_hi = unname(ci[, 2]), q_p = unname(summary(fq)$coefficients[c("mg_q2", "mg_q3", "mg_q4"), 4]),
              q_df = fq$df.residual, l_coef = coef(fl)[["ln_mg"]],
              l_p = summary(fl)$coefficients["ln_mg", 4], l_ci = unname(confint(fl)["ln_mg", ]))
  dc <- subset(des, in_cohort == 1)
  for (g in c("hypertension", "education", "age_group")) {
    drop <- if (g == "age_group") character(0) else g
    f <- as.formula(paste(y, "~ mg_q *", g, "+", rhs(c(drop, g))))
    fi <- svyglm(f, design = dc, family = fam)
    tt <- regTermTest(fi, as.formula(paste0("~mg_q:", g)))
    res[[paste0("int_", g)]] <- list(F = as.numeric(tt$Ftest), p = as.numeric(tt$p), df = tt$df, ddf = tt$ddf)
    # ln-Mg x subgroup Wald F, and the working LRT of the quartile coding as anova(full, reduced)
    fl2 <- svyglm(as.formula(paste(y, "~ ln_mg *", g, "+", rhs(c(drop, g)))), design = dc, family = fam)
    tl <- regTermTest(fl2, as.formula(paste0("~ln_mg:", g)))
    res[[paste0("lnmg_", g)]] <- list(F = as.numeric(tl$Ftest), p = as.numeric(tl$p), df = tl$df, ddf = tl$ddf)
    fr <- svyglm(as.formula(paste(y, "~ mg_q +", g, "+", rhs(c(drop, g)))), design = dc, family = fam)
    av <- anova(fi, fr)
    sat <- regTermTest(fi, as.formula(paste0("~mg_q:", g)), method = "LRT",
                       lrt.approximation = "satterthwaite")
    res[[paste0("lrt_", g)]] <- list(chisq = as.numeric(av$chisq), p = as.numeric(av$p), df = av$df,
                                     ddf = av$ddf, lambda = as.numeric(av$lambda),
                                     p_satterthwaite = as.numeric(sat$p))
  }
  out[[y]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "out.json")
