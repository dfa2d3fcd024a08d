# Reference values for tests/test_descriptive.py and tests/test_table1.py.
# Usage: Rscript descriptive.R adults.csv out.json
# Reads an adults frame (CONTRIBUTING column names), builds the NHANES design, takes the
# in_cohort domain with subset() (R keeps the PSU counts) and writes every statistic the
# Python side compares, at full precision.
suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE, check.names = FALSE, na.strings = c("NA", ""))
options(survey.lonely.psu = "fail")

des <- svydesign(ids = ~SDMVPSU, strata = ~SDMVSTRA, weights = ~weight, nest = TRUE, data = d)
dsub <- subset(des, in_cohort == 1)
groups <- list(overall = dsub, non_lmm = subset(dsub, lmm == 0), lmm = subset(dsub, lmm == 1))

mean_vars <- c("age", "egfr", "ln_mg", "smi", "vitd", "cally")
quant_vars <- c("energy", "protein", "mg", "vitd", "cally", "np", "par", "rar", "age")
cat_vars <- c("gender", "race", "pir_cat", "education", "smoking", "drinking", "active",
              "diabetes", "hypertension")
f <- function(v) as.formula(paste0("~", v))

out <- list(degf = degf(dsub), n_domain = nrow(dsub))

out$means <- list()
for (v in mean_vars) {
  for (gname in names(groups)) {
    g <- groups[[gname]]
    m <- svymean(f(v), g, na.rm = TRUE)
    s <- svyvar(f(v), g, na.rm = TRUE)
    gg <- g[!is.na(g$variables[[v]]), ]
    out$means[[v]][[gname]] <- list(mean = as.numeric(coef(m)), se = as.numeric(SE(m)),
                                     var = as.numeric(coef(s))[1], var_se = as.numeric(SE(s))[1],
                                     df = degf(gg))
  }
}
# svyby must agree with subset(); checked once
b <- svyby(~age, ~lmm, dsub, svymean, na.rm = TRUE)
out$svyby_age <- list(level = b$lmm, mean = b$age, se = b$se)

out$props <- list()
for (v in cat_vars) {
  for (gname in names(groups)) {
    m <- svymean(as.formula(paste0("~factor(", v, ")")), groups[[gname]], na.rm = TRUE)
    lev <- sub("^factor\\(.*\\)", "", names(coef(m)))
    out$props[[v]][[gname]] <- list(level = lev, p = unname(coef(m)), se = unname(SE(m)))
  }
  ch <- svychisq(as.formula(paste0("~", v, "+lmm")), dsub, statistic = "F")
  out$chisq[[v]] <- list(F = unname(ch$statistic), ndf = unname(ch$parameter[1]),
                         ddf = unname(ch$parameter[2]), p = unname(ch$p.value))
}
# a 3 x 3 table with a group other than lmm, and a variable with a missing value
ch <- svychisq(~drinking + pir_cat, dsub, statistic = "F")
out$chisq_drink_pir <- list(F = unname(ch$statistic), ndf = unname(ch$parameter[1]),
                            ddf = unname(ch$parameter[2]), p = unname(ch$p.value))

out$quant <- list()
for (v in quant_vars) {
  for (gname in names(groups)) {
    q <- svyquantile(f(v), groups[[gname]], c(0.25, 0.5, 0.75), na.rm = TRUE)[[1]]
    out$quant[[v]][[gname]] <- list(q = unname(q[, 1]), ci_l = unname(q[, 2]),
                                    ci_u = unname(q[, 3]), se = unname(q[, 4]))
  }
}

tt <- function(r) list(t = unname(r$statistic), df = unname(r$parameter),
                       p = unname(r$p.value), est = unname(r$estimate),
                       ci = if (is.null(r$conf.int)) NULL else unname(as.vector(r$conf.int)))
out$ttest <- list()
for (v in c("age", "egfr", "ln_mg", "smi", "vitd")) {
  out$ttest[[v]] <- tt(svyttest(as.formula(paste0(v, "~lmm")), dsub))
}
out$ttest_gender_age <- tt(svyttest(age ~ gender, dsub))

out$rank <- list()
for (v in c("energy", "protein", "mg", "vitd", "cally", "np", "par", "rar", "age")) {
  out$rank[[v]] <- tt(svyranktest(as.formula(paste0(v, "~lmm")), dsub))
}
out$rank_gender_energy <- tt(svyranktest(energy ~ gender, dsub))

# jsonlite prints at most 15 significant digits; numbers travel as "#%.17g" text instead
# (the Python side decodes them), so the comparison is not limited by the transport.
exact <- function(x) {
  if (is.list(x)) return(lapply(x, exact))
  if (is.numeric(x)) return(sprintf("#%.17g", as.numeric(x)))
  x
}
write_json(exact(out), args[2], auto_unbox = TRUE, null = "null")
