#include "tools/load/load_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <ostream>
#include <string>

namespace ferry::load {
namespace {

constexpr double width = 960;
constexpr double left = 70, right = 150; // room for the axis labels and the legend
constexpr double latency_height = 200, rate_height = 110, vus_height = 60, gap = 28, title_height = 26;

/// A round step giving about `ticks` divisions of [0, top].
double nice_step(double top, int ticks) {
    if (top <= 0)
        return 1;
    const double raw = top / ticks;
    const double magnitude = std::pow(10, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * magnitude >= raw)
            return m * magnitude;
    return 10 * magnitude;
}

std::string num(double v) {
    char buf[32];
    if (v != 0 && std::fabs(v) < 10 && v != std::floor(v))
        std::snprintf(buf, sizeof buf, "%.3g", v);
    else
        std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}

struct panel {
    double x0, y0, w, h; // plot area
    double t_max, y_max;
    double y_min = 0; ///< > 0: a logarithmic axis from y_min to y_max
    double x(double t) const { return x0 + w * t / t_max; }
    double y(double v) const {
        if (y_min > 0) {
            const double f = (std::log10(std::clamp(v, y_min, y_max)) - std::log10(y_min)) /
                             (std::log10(y_max) - std::log10(y_min));
            return y0 + h - h * f;
        }
        return y0 + h - h * std::min(v, y_max) / y_max;
    }
};

void axes(std::ostream& out, const panel& p, const std::string& unit) {
    out << "<rect x='" << p.x0 << "' y='" << p.y0 << "' width='" << p.w << "' height='" << p.h
        << "' fill='#fcfcfc' stroke='#999'/>\n";
    auto tick = [&](double v) {
        const double y = p.y(v);
        out << "<line x1='" << p.x0 << "' x2='" << p.x0 + p.w << "' y1='" << y << "' y2='" << y
            << "' stroke='#e4e4e4'/>\n<text x='" << p.x0 - 6 << "' y='" << y + 4
            << "' text-anchor='end' font-size='11'>" << num(v) << "</text>\n";
    };
    if (p.y_min > 0) {
        // Powers of ten, and 2 and 5 times them while there are few decades.
        const int decades = int(std::lround(std::log10(p.y_max / p.y_min)));
        for (double v = p.y_min; v <= p.y_max * 1.0001; v *= 10)
            for (double m : {1.0, 2.0, 5.0})
                if ((m == 1.0 || decades <= 4) && v * m <= p.y_max * 1.0001)
                    tick(v * m);
    } else {
        const double ystep = nice_step(p.y_max, 4);
        for (int i = 0; i <= 8 && i * ystep <= p.y_max * 1.0001; ++i)
            tick(i * ystep);
    }
    const double xstep = nice_step(p.t_max, 8);
    for (int i = 0; i <= 12 && i * xstep <= p.t_max * 1.0001; ++i) {
        const double t = i * xstep, x = p.x(t);
        out << "<line x1='" << x << "' x2='" << x << "' y1='" << p.y0 << "' y2='" << p.y0 + p.h
            << "' stroke='#eee'/>\n<text x='" << x << "' y='" << p.y0 + p.h + 14
            << "' text-anchor='middle' font-size='11'>" << num(t) << "s</text>\n";
    }
    out << "<text x='" << p.x0 - 52 << "' y='" << p.y0 + p.h / 2 << "' font-size='11' transform='rotate(-90 "
        << p.x0 - 52 << " " << p.y0 + p.h / 2 << ")' text-anchor='middle'>" << unit << "</text>\n";
}

/// A series drawn at the middle of each point's span; a latency line (`gaps`) breaks where a span
/// had no request, and few points get dots so that a lone one shows.
void line(std::ostream& out, const panel& p, const std::vector<series_point>& points,
          const std::function<double(const series_point&)>& value, const char* colour, const char* dash,
          const char* label, int legend_row, bool gaps = false) {
    bool open = false;
    for (auto& pt : points) {
        if (gaps && pt.requests_per_s <= 0) {
            if (open)
                out << "'/>\n";
            open = false;
            continue;
        }
        if (!open)
            out << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.6'" << dash << " points='";
        open = true;
        out << p.x(pt.t - pt.seconds / 2) << "," << p.y(value(pt)) << " ";
    }
    if (open)
        out << "'/>\n";
    if (points.size() < 40)
        for (auto& pt : points)
            if (!gaps || pt.requests_per_s > 0)
                out << "<circle cx='" << p.x(pt.t - pt.seconds / 2) << "' cy='" << p.y(value(pt)) << "' r='2.5' fill='"
                    << colour << "'/>\n";
    const double ly = p.y0 + 12 + 16 * legend_row, lx = p.x0 + p.w + 12;
    out << "<line x1='" << lx << "' x2='" << lx + 22 << "' y1='" << ly - 4 << "' y2='" << ly - 4 << "' stroke='"
        << colour << "' stroke-width='2'" << dash << "/>\n<text x='" << lx + 28 << "' y='" << ly
        << "' font-size='11'>" << label << "</text>\n";
}

} // namespace

void write_plot_svg(std::ostream& out, const load_runner& runner) {
    double t_max = 1;
    for (auto& s : runner.scenarios())
        for (auto& p : s->series.points())
            t_max = std::max(t_max, p.t);
    const double per_scenario = title_height + latency_height + gap + rate_height + gap + vus_height + gap + 10;
    const double height = 40 + per_scenario * double(std::max<std::size_t>(runner.scenarios().size(), 1));
    out << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='" << width
        << "' height='" << height << "' viewBox='0 0 " << width << " " << height
        << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n"
        << "<text x='" << left << "' y='24' font-size='15' font-weight='bold'>ferry load: latency and throughput "
           "per scenario</text>\n";
    double top = 40;
    for (auto& s : runner.scenarios()) {
        const auto& points = s->series.points();
        double lat_max = 0, lat_min = 0, rate_max = 0, vus_max = 0;
        for (auto& p : points) {
            lat_max = std::max({lat_max, p.p99, p.p99_uncorrected, p.p95, p.p90});
            if (p.requests_per_s > 0 && p.p50 > 0)
                lat_min = lat_min > 0 ? std::min(lat_min, p.p50) : p.p50;
            rate_max = std::max(rate_max, p.requests_per_s);
            vus_max = std::max(vus_max, p.vus);
        }
        rate_max = nice_step(rate_max * 1.1, 4) * 4;
        vus_max = nice_step(std::max(vus_max, 1.0) * 1.1, 2) * 2;
        // Latency spans decades when a stall or a queue shows (a median of 0.3 ms under a p99 of a
        // second): then a logarithmic axis, from the power of ten below the lowest median.
        double lat_floor = 0;
        if (lat_min > 0 && lat_max / lat_min > 30) {
            lat_floor = std::pow(10, std::floor(std::log10(lat_min)));
            lat_max = std::pow(10, std::ceil(std::log10(lat_max * 1.05)));
        } else {
            lat_max = nice_step(lat_max * 1.1, 4) * 4;
        }
        char title[200];
        std::snprintf(title, sizeof title, "%s (%s): %llu requests, %llu failed", escape(s->spec->name).c_str(),
                      std::string(executor_name(s->spec->executor)).c_str(), (unsigned long long)s->total.requests,
                      (unsigned long long)s->total.failed);
        out << "<text x='" << left << "' y='" << top + 16 << "' font-size='13' font-weight='bold'>" << title
            << "</text>\n";
        panel lat{left, top + title_height, width - left - right, latency_height, t_max, lat_max, lat_floor};
        axes(out, lat, lat_floor > 0 ? "latency (ms, log scale)" : "latency (ms)");
        line(out, lat, points, [](auto& p) { return p.p50; }, "#1f77b4", "", "p50", 0, true);
        line(out, lat, points, [](auto& p) { return p.p90; }, "#2ca02c", "", "p90", 1, true);
        line(out, lat, points, [](auto& p) { return p.p95; }, "#e377c2", "", "p95", 2, true);
        line(out, lat, points, [](auto& p) { return p.p99; }, "#d62728", "", "p99", 3, true);
        if (open_model(s->spec->executor))
            line(out, lat, points, [](auto& p) { return p.p99_uncorrected; }, "#ff7f0e", " stroke-dasharray='5,3'",
                 "p99 uncorrected", 4, true);
        panel rate{left, lat.y0 + latency_height + gap, width - left - right, rate_height, t_max, rate_max};
        axes(out, rate, "requests/s");
        line(out, rate, points, [](auto& p) { return p.requests_per_s; }, "#9467bd", "", "requests/s", 0);
        line(out, rate, points, [](auto& p) { return p.errors_per_s; }, "#8c564b", " stroke-dasharray='2,2'",
             "errors/s", 1);
        panel vus{left, rate.y0 + rate_height + gap, width - left - right, vus_height, t_max, vus_max};
        axes(out, vus, "VUs");
        line(out, vus, points, [](auto& p) { return p.vus; }, "#555", "", "VUs", 0);
        top += per_scenario;
    }
    out << "</svg>\n";
}

} // namespace ferry::load
