// bond: prices fixed-rate bonds off a flat curve, one gridrun element each.
#include <cmath>
#include <stdexcept>
#include <string>

#include "bond.pb.h"
#include "gridrun/gridrun.h"

bond::Value Price(const bond::Bond& b, const gridrun::Side<bond::Curve>& curves) {
  if (curves.empty()) throw std::invalid_argument("no curve for " + b.currency());
  const double periods = b.maturity() * b.frequency();
  if (b.frequency() == 0 || periods < 1 || std::abs(periods - std::round(periods)) > 1e-9)
    throw std::invalid_argument("maturity is not a whole number of coupon periods");
  const double rate = curves[0].rate();
  const int n = static_cast<int>(std::round(periods));
  const double coupon = b.notional() * b.coupon() / b.frequency();
  double pv = 0, weighted = 0;
  for (int i = 1; i <= n; i++) {
    const double t = static_cast<double>(i) / b.frequency();
    const double flow = coupon + (i == n ? b.notional() : 0);
    pv += flow * std::exp(-rate * t);
    weighted += t * flow * std::exp(-rate * t);
  }
  bond::Value v;
  v.set_pv(pv);
  v.set_duration(weighted / pv);
  v.set_cashflows(n);
  return v;
}

int main(int argc, char** argv) {
  return gridrun::Serve<bond::Bond, bond::Value, bond::Curve>(argc, argv, Price, {"bond", "1.0.0"});
}
