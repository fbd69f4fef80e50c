"""Simulated 90 days of backups of two databases and the kept sets derived by hand.

NOW is Tuesday 2026-03-31 12:00 UTC. ISO weeks used below: W14 = Mar 30 - Apr 5,
W13 = Mar 23-29, W12 = Mar 16-22, W11 = Mar 9-15.

app: one backup every day at 02:00 from Jan 1 to Mar 31 (90 days), plus one at 14:00
     on days 5, 10, 15, 20, 25 and 30 of each month; no backups Feb 10-14 and Mar 28.
     Policy APP_POLICY: keep_last 3, keep_daily 7, keep_weekly 4, keep_monthly 3.
     By hand:
       keep_last 3     0331T02, 0330T14, 0330T02
       keep_daily 7    days Mar 31, 30, 29, 27 (28 has none), 26, 25, 24:
                       0331T02, 0330T14, 0329T02, 0327T02, 0326T02, 0325T14, 0324T02
       keep_weekly 4   W14 0331T02, W13 0329T02, W12 0322T02 (Sun), W11 0315T14 (Sun, 14:00)
       keep_monthly 3  Mar 0331T02, Feb 0228T02, Jan 0131T02
     -> 12 kept.

crm: one backup every second day at 03:30 from Jan 1 (Jan 1, 3, ..., 31, Feb 2, ..., 28,
     Mar 2, ..., 30) except Mar 2-10 (none), plus two incomplete directories (no manifest):
     20260331T033000Z (8.5 h old: within the 24 h grace period, kept) and
     20260320T140000Z (11 days old: deleted).
     Policy CRM_POLICY: keep_daily 5, keep_monthly 3, max_age 50d (cutoff Feb 9 12:00), min_keep 2.
     By hand:
       keep_daily 5    0330, 0328, 0326, 0324, 0322
       keep_monthly 3  Mar 0330, Feb 0228, Jan 0131 -> older than max_age: not kept
     -> 6 complete kept + the young incomplete one.
"""
import datetime

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC)

APP_POLICY = dict(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=3)
CRM_POLICY = dict(keep_daily=5, keep_monthly=3, max_age='50d', min_keep=2)

APP_KEPT = sorted(['20260331T020000Z', '20260330T140000Z', '20260330T020000Z', '20260329T020000Z',
                   '20260327T020000Z', '20260326T020000Z', '20260325T140000Z', '20260324T020000Z',
                   '20260322T020000Z', '20260315T140000Z', '20260228T020000Z', '20260131T020000Z'])
CRM_KEPT_COMPLETE = sorted(['20260330T033000Z', '20260328T033000Z', '20260326T033000Z', '20260324T033000Z',
                            '20260322T033000Z', '20260228T033000Z'])
CRM_INCOMPLETE_YOUNG = '20260331T033000Z'
CRM_INCOMPLETE_OLD = '20260320T140000Z'


def _days():
    day = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(90):
        yield day + datetime.timedelta(days=n)


def app_times():
    out = []
    for day in _days():
        if (day.month == 2 and 10 <= day.day <= 14) or (day.month == 3 and day.day == 28):
            continue
        out.append(day.replace(hour=2))
        if day.day % 5 == 0:
            out.append(day.replace(hour=14))
    return out


def crm_times():
    out = []
    for n, day in enumerate(_days()):
        if n % 2 or (day.month == 3 and 2 <= day.day <= 10):
            continue
        out.append(day.replace(hour=3, minute=30))
    return out


def crm_incomplete_times():
    return [datetime.datetime(2026, 3, 31, 3, 30, tzinfo=UTC), datetime.datetime(2026, 3, 20, 14, 0, tzinfo=UTC)]


def backup_id(ts):
    return ts.strftime('%Y%m%dT%H%M%SZ')
