"""stillhouse.search"""
