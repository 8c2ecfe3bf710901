// pricer: the example gridrun binary. It prices European options by
// Black-Scholes and arithmetic-average Asian options by Monte Carlo, from a
// Trade and the Quote of its underlying, discounting at the zero rate of the
// job's curve (its common data, gridrun run --common) when it is given, at
// the quote's flat rate otherwise.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gridrun/gridrun.h"
#include "pricer.pb.h"

namespace {

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

double NormCdf(double x) { return 0.5 * std::erfc(-x / kSqrt2); }
double NormPdf(double x) { return kInvSqrt2Pi * std::exp(-0.5 * x * x); }

void Check(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// Curve is the job's zero curve, set once per process by Init before the
// first trade; empty when the job gives none.
struct Curve {
  std::vector<double> tenors, rates;

  // Rate is the zero rate at time t: linear between tenors, flat outside.
  double Rate(double t) const {
    if (t <= tenors.front()) return rates.front();
    if (t >= tenors.back()) return rates.back();
    size_t i = 1;
    while (tenors[i] < t) i++;
    const double w = (t - tenors[i - 1]) / (tenors[i] - tenors[i - 1]);
    return rates[i - 1] + w * (rates[i] - rates[i - 1]);
  }
};

Curve curve;

// Init checks the job's curve and keeps it for every trade of the process.
// A bad curve throws: every trade of the process then fails with the
// reason, rather than being priced on a rate the job did not mean.
void Init(const pricer::Common& common) {
  const pricer::ZeroCurve& c = common.curve();
  Check(c.tenors_size() == c.zero_rates_size(), "curve: " + std::to_string(c.tenors_size()) + " tenors but " +
                                                    std::to_string(c.zero_rates_size()) + " zero rates");
  for (int i = 0; i < c.tenors_size(); i++) {
    Check(c.tenors(i) > 0, "curve: tenor " + std::to_string(i) + " must be positive");
    Check(i == 0 || c.tenors(i) > c.tenors(i - 1), "curve: tenors must increase, tenor " + std::to_string(i) +
                                                       " does not");
  }
  curve.tenors.assign(c.tenors().begin(), c.tenors().end());
  curve.rates.assign(c.zero_rates().begin(), c.zero_rates().end());
}

pricer::Price BlackScholes(const pricer::Trade& t, const pricer::Quote& q) {
  const double s = q.spot(), k = t.strike(), T = t.expiry(), v = q.vol();
  const double r = q.rate(), d = q.dividend();
  const double sqrtT = std::sqrt(T);
  const double d1 = (std::log(s / k) + (r - d + 0.5 * v * v) * T) / (v * sqrtT);
  const double d2 = d1 - v * sqrtT;
  const double df = std::exp(-r * T), dq = std::exp(-d * T);
  pricer::Price p;
  if (t.type() == pricer::CALL) {
    p.set_price(s * dq * NormCdf(d1) - k * df * NormCdf(d2));
    p.set_delta(dq * NormCdf(d1));
  } else {
    p.set_price(k * df * NormCdf(-d2) - s * dq * NormCdf(-d1));
    p.set_delta(-dq * NormCdf(-d1));
  }
  p.set_gamma(dq * NormPdf(d1) / (s * v * sqrtT));
  p.set_vega(s * dq * NormPdf(d1) * sqrtT);
  p.set_method("black-scholes");
  return p;
}

// Rng is xoshiro256** seeded by splitmix64 from the runner's seed for the
// (trade, scenario), so a rerun of a trade reproduces its price bit for
// bit, wherever and in whatever batch it runs. Line mode, which carries no
// seed, seeds from the trade id.
class Rng {
 public:
  Rng(uint64_t seed, const std::string& id) {
    uint64_t h = seed;
    if (h == 0) {
      h = 0xcbf29ce484222325ULL;  // FNV-1a
      for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
    }
    for (uint64_t& w : s_) w = SplitMix(h);
  }

  uint64_t Next() {
    const uint64_t out = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return out;
  }

  // Uniform in (-1, 1).
  double Symmetric() { return static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0; }

  // Normal draws a standard normal by Marsaglia's polar method.
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = Symmetric();
      v = Symmetric();
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * m;
    has_spare_ = true;
    return u * m;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

pricer::Price AsianMonteCarlo(const pricer::Trade& t, const pricer::Quote& q, uint64_t seed) {
  const uint32_t paths = t.paths() > 0 ? t.paths() : 10000;
  const uint32_t fixings = t.fixings() > 0 ? t.fixings() : 12;
  const double dt = t.expiry() / fixings;
  const double r = q.rate();
  const double drift = (r - q.dividend() - 0.5 * q.vol() * q.vol()) * dt;
  const double diffusion = q.vol() * std::sqrt(dt);
  const double df = std::exp(-r * t.expiry());
  const bool call = t.type() == pricer::CALL;
  Rng rng(seed, t.id());
  double sum = 0, sum_sq = 0;
  for (uint32_t i = 0; i < paths; i++) {
    double s = q.spot(), total = 0;
    for (uint32_t j = 0; j < fixings; j++) {
      s *= std::exp(drift + diffusion * rng.Normal());
      total += s;
    }
    const double avg = total / fixings;
    const double payoff = df * std::max(call ? avg - t.strike() : t.strike() - avg, 0.0);
    sum += payoff;
    sum_sq += payoff * payoff;
  }
  const double mean = sum / paths;
  const double var = paths > 1 ? (sum_sq - paths * mean * mean) / (paths - 1) : 0.0;
  pricer::Price p;
  p.set_price(mean);
  p.set_std_error(std::sqrt(std::max(var, 0.0) / paths));
  p.set_paths(paths);
  p.set_method("monte-carlo");
  return p;
}

// Market is the quote a trade is priced on: the joined quote, its rate the
// curve's at the trade's expiry when the job gives a curve, then shocked by
// the scenario.
pricer::Quote Market(const pricer::Trade& t, const pricer::Quote& quote, const pricer::Scenario& sc) {
  pricer::Quote q = quote;
  const double rate = curve.tenors.empty() ? quote.rate() : curve.Rate(t.expiry());
  q.set_spot(quote.spot() * (1 + sc.spot_shift()));
  q.set_vol(quote.vol() + sc.vol_shift());
  q.set_rate(rate + sc.rate_shift());
  return q;
}

pricer::Price Price(const pricer::Trade& t, const gridrun::Side<pricer::Quote>& quotes, const pricer::Scenario& sc,
                    const gridrun::Context& ctx) {
  Check(!quotes.empty(), "no quote for underlying \"" + t.underlying() + "\"");
  const pricer::Quote q = Market(t, quotes[0], sc);
  Check(t.type() == pricer::CALL || t.type() == pricer::PUT, "type must be CALL or PUT");
  Check(t.strike() > 0, "strike must be positive");
  Check(t.expiry() > 0, "expiry must be positive");
  Check(q.spot() > 0, "spot of " + q.underlying() + " must be positive");
  Check(q.vol() > 0, "vol of " + q.underlying() + " must be positive");
  pricer::Price p;
  switch (t.style()) {
    case pricer::EUROPEAN:
      p = BlackScholes(t, q);
      break;
    case pricer::ASIAN:
      p = AsianMonteCarlo(t, q, ctx.seed());
      break;
    default:
      throw std::invalid_argument("style must be EUROPEAN or ASIAN");
  }
  p.set_value(p.price() * t.quantity());
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  return gridrun::Serve<pricer::Trade, pricer::Price, pricer::Quote, pricer::Scenario, pricer::Common>(
      argc, argv, Price, {"pricer", "1.0.0"}, Init);
}
