// pricer: the example gridrun binary. It prices European options by
// Black-Scholes and arithmetic-average Asian options by Monte Carlo, from a
// Trade and the Quote of its underlying.
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

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
  const double drift = (q.rate() - q.dividend() - 0.5 * q.vol() * q.vol()) * dt;
  const double diffusion = q.vol() * std::sqrt(dt);
  const double df = std::exp(-q.rate() * t.expiry());
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

// Shocked applies a scenario to a quote.
pricer::Quote Shocked(const pricer::Quote& quote, const pricer::Scenario& sc) {
  pricer::Quote q = quote;
  q.set_spot(quote.spot() * (1 + sc.spot_shift()));
  q.set_vol(quote.vol() + sc.vol_shift());
  q.set_rate(quote.rate() + sc.rate_shift());
  return q;
}

pricer::Price Price(const pricer::Trade& t, const gridrun::Side<pricer::Quote>& quotes, const pricer::Scenario& sc,
                    const gridrun::Context& ctx) {
  Check(!quotes.empty(), "no quote for underlying \"" + t.underlying() + "\"");
  const pricer::Quote q = Shocked(quotes[0], sc);
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
  return gridrun::Serve<pricer::Trade, pricer::Price, pricer::Quote, pricer::Scenario>(argc, argv, Price,
                                                                                     {"pricer", "1.0.0"});
}
