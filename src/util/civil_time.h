// Proleptic Gregorian calendar arithmetic (Howard Hinnant's algorithms), shared by the record
// decoder (ISO-8601 timestamps), the state codec's datetime JSON form and the Python binding.
#pragma once

#include <cstdint>

namespace statefold {

// Days since 1970-01-01 of year `y`, month `m` (1-12), day `d` (1-31).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// The number of days of month `m` (1-12) of year `y` (proleptic Gregorian).
constexpr int DaysInMonth(int64_t y, unsigned m) {
  if (m == 2) return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;
  return (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

struct CivilDate {
  int64_t year;
  unsigned month;
  unsigned day;
};

// The date `days` after 1970-01-01.
constexpr CivilDate CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

// Splits microseconds since the epoch into whole days and the microseconds of that day.
constexpr void SplitMicros(int64_t micros, int64_t* days, int64_t* micros_of_day) {
  constexpr int64_t kMicrosPerDay = 86400LL * 1000000;
  // Floor division without negating `micros` (which overflows near INT64_MIN).
  const int64_t rem = micros % kMicrosPerDay;
  *days = micros / kMicrosPerDay - (rem < 0 ? 1 : 0);
  *micros_of_day = rem < 0 ? rem + kMicrosPerDay : rem;
}

}  // namespace statefold
