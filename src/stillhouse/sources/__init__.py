"""stillhouse.sources"""
