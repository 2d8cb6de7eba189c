"""stillhouse.teacher"""
