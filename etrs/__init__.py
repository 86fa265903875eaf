"""eTRS: the medication domain (lists, import, schedule, sign-off, four-eyes)."""
